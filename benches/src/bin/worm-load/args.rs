//! `--key value` arguments.

use std::collections::HashMap;

pub struct Args(HashMap<String, String>);

impl Args {
    pub fn parse(argv: impl Iterator<Item = String>) -> Self {
        let mut map = HashMap::new();
        let mut key = None;
        for a in argv {
            match (a.strip_prefix("--"), key.take()) {
                (Some(k), None) => key = Some(k.to_string()),
                (Some(k), Some(flag)) => {
                    map.insert(flag, "true".into());
                    key = Some(k.to_string());
                }
                (None, Some(k)) => {
                    map.insert(k, a);
                }
                (None, None) => eprintln!("worm-load: ignoring stray argument '{a}'"),
            }
        }
        if let Some(flag) = key {
            map.insert(flag, "true".into());
        }
        Args(map)
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.0.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{key} {v}: not a number")),
        }
    }
}
