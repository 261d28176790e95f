//! What the pipeline said when uploads failed: the `error` of its "upload failed, retrying"
//! events, so a drill can show which failures it produced (a timeout, a refused connection).

use std::fmt;
use std::sync::{Mutex, Once};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

static ERRORS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();

/// The upload errors seen since [`UploadErrors::install`] (or the last [`take`](Self::take)).
#[derive(Debug)]
pub struct UploadErrors(());

impl UploadErrors {
    /// Install the process-wide subscriber (once; the pipeline's worker runs on its own
    /// thread, so a thread-local one would hear nothing) and forget earlier errors.
    pub fn install() -> UploadErrors {
        INSTALL.call_once(|| {
            let only_worm = filter_fn(|m| m.target() == "worm");
            if tracing_subscriber::registry()
                .with(Capture.with_filter(only_worm))
                .try_init()
                .is_err()
            {
                eprintln!(
                    "another tracing subscriber is installed: upload errors are not captured"
                );
            }
        });
        drop(Self::take_all());
        UploadErrors(())
    }

    /// The errors since the last call.
    pub fn take(&self) -> Vec<String> {
        Self::take_all()
    }

    fn take_all() -> Vec<String> {
        std::mem::take(&mut *ERRORS.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

struct Capture;

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        if f.message == "upload failed, retrying"
            && let Some(e) = f.error
        {
            ERRORS.lock().unwrap_or_else(|p| p.into_inner()).push(e);
        }
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    error: Option<String>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "error" => self.error = Some(format!("{value:?}")),
            _ => {}
        }
    }
}
