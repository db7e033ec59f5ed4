//! macOS's per-user temporary directory, where named mutexes live (macOS has no
//! `/dev/shm`, and `$XDG_RUNTIME_DIR` is rarely set there).

use std::ffi::{CStr, c_char};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// The per-user temporary directory (`/var/folders/../T/`, mode 0700, the user's own),
/// from [`confstr(_CS_DARWIN_USER_TEMP_DIR)`](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man3/confstr.3.html),
/// whatever `$TMPDIR` says; `None` if it cannot be read.
pub(crate) fn user_dir() -> Option<PathBuf> {
    let mut buf = [0u8; libc::PATH_MAX as usize];
    // SAFETY: `confstr` writes at most `buf.len()` bytes, NUL-terminated, into `buf`, and
    // returns the length it needed (0 on error).
    let needed = unsafe {
        libc::confstr(
            libc::_CS_DARWIN_USER_TEMP_DIR,
            buf.as_mut_ptr().cast::<c_char>(),
            buf.len(),
        )
    };
    if needed == 0 || needed > buf.len() {
        return None;
    }
    let dir = CStr::from_bytes_until_nul(&buf).ok()?;
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(dir.to_bytes())))
}
