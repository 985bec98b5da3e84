//! `[admin] token_file`: read at validation (so `check` and a reload see a
//! broken file with its position), trimmed, never shown.

use std::path::PathBuf;

use shardgate_config::{load, Error};

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let dir =
            std::env::temp_dir().join(format!("sg-config-admin-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A config naming `token_file = "<file>"` (relative to the config).
    fn config(&self, file: &str) -> PathBuf {
        self.write(
            "gw.toml",
            &format!(
                "[admin]\naddress = \"127.0.0.1:9901\"\ntoken_file = \"{file}\"\n\n\
                 [[listener]]\nname = \"public\"\naddress = \"127.0.0.1:8080\"\n\n\
                 [[route]]\nrespond = {{ status = 200 }}\n"
            ),
        )
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn errors(path: &std::path::Path) -> Vec<String> {
    match load(path) {
        Err(Error::Invalid(d)) => d.iter().map(|d| d.to_string()).collect(),
        other => panic!("expected diagnostics, got {other:?}"),
    }
}

#[test]
fn the_token_is_read_relative_to_the_config_and_trimmed() {
    let dir = Dir::new("ok");
    dir.write("token", "  s3cr3t-T0ken\n");
    let cfg = load(&dir.config("token")).unwrap();
    let admin = cfg.admin.unwrap();
    assert_eq!(admin.token.as_ref().unwrap().expose(), "s3cr3t-T0ken");
    assert_eq!(admin.token_file.unwrap(), dir.0.join("token"));
    assert!(
        !format!("{:?}", admin.token).contains("s3cr3t"),
        "Debug must not show the token"
    );
}

#[test]
fn without_token_file_there_is_no_token() {
    let dir = Dir::new("none");
    let path = dir.write(
        "gw.toml",
        "[admin]\n[[listener]]\nname = \"p\"\naddress = \"127.0.0.1:8080\"\n\
         [[route]]\nrespond = { status = 200 }\n",
    );
    let admin = load(&path).unwrap().admin.unwrap();
    assert_eq!((admin.token_file, admin.token), (None, None));
}

#[test]
fn unreadable_empty_and_unusable_token_files_are_located() {
    let dir = Dir::new("bad");
    let path = dir.config("missing");
    let e = errors(&path);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(&format!(
            "{}:3:14: admin.token_file: cannot read {}",
            path.display(),
            dir.0.join("missing").display()
        )),
        "{e:?}"
    );

    dir.write("empty", " \n\n");
    let e = errors(&dir.config("empty"));
    assert!(
        e.len() == 1 && e[0].contains(":3:14: admin.token_file: ") && e[0].contains("empty"),
        "{e:?}"
    );

    dir.write("spaced", "two words\n");
    let e = errors(&dir.config("spaced"));
    assert!(
        e.len() == 1 && e[0].contains("admin.token_file: ") && e[0].contains("visible ASCII"),
        "{e:?}"
    );

    dir.write("big", &"x".repeat(5000));
    let e = errors(&dir.config("big"));
    assert!(e.len() == 1 && e[0].contains("at most 4096 bytes"), "{e:?}");
}
