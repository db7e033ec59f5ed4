//! The strings a [`Spawn`](crate::Spawn) hands to `execve`, as C strings built in the
//! parent: the arguments, the environment (with room for the child to write its own
//! `LISTEN_PID`; on macOS and FreeBSD, through `/bin/sh`), the working directory and the
//! `PATH` candidates.

use crate::error::{Error, Result};
use crate::sys::spawn::{Image, PidSlot};
use std::collections::BTreeMap;
use std::ffi::{CStr, CString, OsStr, OsString, c_char};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What std's getters show in place of a program, argument or directory with a NUL byte
/// (its `Command` keeps the error for its own `spawn`): taken as that error here, never
/// passed on.
const STD_NUL_PLACEHOLDER: &str = "<string-with-nul>";

/// `LISTEN_PID=`, followed by room for the child's pid (ten digits and a NUL, and one
/// spare).
const LISTEN_PID: &[u8] = b"LISTEN_PID=";
const PID_ROOM: usize = 12;

/// The script that gives `LISTEN_PID` the program's pid where the child cannot write it
/// (macOS, FreeBSD): `$0` is the program, `$@` its arguments.
#[cfg(not(target_os = "linux"))]
const SH_LISTEN_PID: &CStr = c"LISTEN_PID=$$; export LISTEN_PID; exec \"$0\" \"$@\"";

/// The C strings of one spawn, owned until it returns.
#[derive(Debug)]
pub(super) struct CStrings {
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: Option<CString>,
    paths: Vec<CString>,
    /// `LISTEN_PID=` and room for the digits, when the child writes its pid.
    listen_pid: Option<Vec<u8>>,
}

impl CStrings {
    /// Converts everything `execve` takes; `listen_pid` adds the entry the child fills in.
    ///
    /// # Errors
    ///
    /// [`Error::SpawnNul`], naming the string with a NUL byte.
    pub(super) fn new(
        program: &OsStr,
        args: &[OsString],
        env: &BTreeMap<OsString, OsString>,
        cwd: Option<&Path>,
        listen_pid: bool,
    ) -> Result<CStrings> {
        let c = |what, value: &OsStr| {
            let nul = || Error::SpawnNul {
                program: PathBuf::from(program),
                what,
                value: value.to_owned(),
            };
            if what != "environment variable" && value == STD_NUL_PLACEHOLDER {
                return Err(nul());
            }
            CString::new(value.as_bytes()).map_err(|_| nul())
        };
        let program_c = c("program", program)?;
        let mut argv = vec![program_c.clone()];
        // No child code of guard's runs before the exec on macOS and FreeBSD
        // (`posix_spawn`): `/bin/sh` sets `LISTEN_PID` to its own pid and execs the program
        // in its place, as `listen_fds_command` does for std's `Command`.
        #[cfg(not(target_os = "linux"))]
        let (program_c, listen_pid) = if listen_pid {
            argv = [c"/bin/sh", c"-c", SH_LISTEN_PID]
                .map(CStr::to_owned)
                .into_iter()
                .chain(argv)
                .collect();
            (c"/bin/sh".to_owned(), false)
        } else {
            (program_c, listen_pid)
        };
        for arg in args {
            argv.push(c("argument", arg)?);
        }
        let mut envp = Vec::with_capacity(env.len());
        for (k, v) in env {
            let mut kv = k.clone();
            kv.push("=");
            kv.push(v);
            envp.push(c("environment variable", &kv)?);
        }
        let cwd = match cwd {
            Some(dir) => Some(c("directory", dir.as_os_str())?),
            None => None,
        };
        Ok(CStrings {
            paths: search_path(&program_c, env.get(OsStr::new("PATH"))),
            argv,
            envp,
            cwd,
            listen_pid: listen_pid.then(|| [LISTEN_PID, &[0; PID_ROOM]].concat()),
        })
    }

    /// Runs `f` with the [`Image`] of these strings: null-terminated pointer arrays into
    /// them, valid while `f` runs, and the `LISTEN_PID` buffer's tail as its `PidSlot`
    /// (only the child writes it, through that pointer; this borrow keeps everything else
    /// off it).
    pub(super) fn with_image<R>(&mut self, f: impl FnOnce(&Image<'_>) -> R) -> R {
        let CStrings {
            argv,
            envp,
            cwd,
            paths,
            listen_pid,
        } = self;
        let paths: Vec<&CStr> = paths.iter().map(CString::as_c_str).collect();
        let argv = null_terminated(argv);
        let mut envp = null_terminated(envp);
        let pid_slot = listen_pid.as_mut().map(|buf| {
            let base = buf.as_mut_ptr();
            envp.insert(envp.len() - 1, base.cast_const().cast::<c_char>());
            PidSlot {
                ptr: base.wrapping_add(LISTEN_PID.len()),
                len: PID_ROOM,
            }
        });
        f(&Image {
            paths: &paths,
            argv: &argv,
            envp: &envp,
            cwd: cwd.as_deref(),
            pid_slot,
        })
    }
}

/// The paths `execvp` would try for `program`: itself if it has a `/`, else each directory
/// of `path` (`/bin:/usr/bin` if unset; an empty entry is the working directory).
fn search_path(program: &CString, path: Option<&OsString>) -> Vec<CString> {
    let name = program.as_bytes();
    if name.is_empty() || name.contains(&b'/') {
        return vec![program.clone()];
    }
    let path = path.map_or(&b"/bin:/usr/bin"[..], |p| p.as_bytes());
    path.split(|&b| b == b':')
        .filter_map(|dir| {
            let dir = if dir.is_empty() { &b"."[..] } else { dir };
            let mut full = dir.to_vec();
            full.push(b'/');
            full.extend_from_slice(name);
            CString::new(full).ok() // a directory with a NUL cannot hold it
        })
        .collect()
}

fn null_terminated(strings: &[CString]) -> Vec<*const c_char> {
    let mut ptrs: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    ptrs
}

#[cfg(test)]
mod tests {
    use super::search_path;
    use std::ffi::{CString, OsString};

    #[test]
    fn path_search_is_execvps() {
        let p = |s: &str| CString::new(s).unwrap();
        assert_eq!(search_path(&p("/bin/true"), None), [p("/bin/true")]);
        assert_eq!(search_path(&p("./x"), None), [p("./x")]);
        assert_eq!(
            search_path(&p("true"), None),
            [p("/bin/true"), p("/usr/bin/true")]
        );
        let path = OsString::from("/a::/b");
        assert_eq!(
            search_path(&p("x"), Some(&path)),
            [p("/a/x"), p("./x"), p("/b/x")]
        );
    }
}
