//! Which paths a device may name as its serial port: only what a serial adapter looks like,
//! so that no one can make the historian open the controlling terminal, a virtual console,
//! the kernel log or any other file by calling it a port.
//!
//! Accepted everywhere:
//! - `/dev/ttyS<N>` (on-board UARTs), `/dev/ttyUSB<N>` (USB adapters: FTDI, CH340, CP210x,
//!   PL2303), `/dev/ttyACM<N>` (USB CDC-ACM), `/dev/ttyAMA<N>` (Raspberry Pi PL011),
//!   `/dev/ttyXRUSB<N>` (Exar USB UARTs), `/dev/ttymxc<N>` (i.MX UARTs on industrial
//!   gateways), `/dev/ttyO<N>` (OMAP/BeagleBone UARTs), `/dev/ttySC<N>` (SPI and I²C UART
//!   bridges on RS-485 boards); `<N>` is 0-9999 without leading zeros;
//! - `/dev/serial/by-id/<name>` and `/dev/serial/by-path/<name>` (udev's stable names):
//!   one file name of printable ASCII, not `.` or `..`, and not a directory where it exists;
//! - `COM1` to `COM256` (Windows), in any letter case; the serial library adds the `\\.\`
//!   prefix itself, so that form is not accepted.
//!
//! Refused: everything else, among them `/dev/tty`, `/dev/tty1`, `/dev/ttyprintk`,
//! `/dev/pts/*`, and `/dev/rfcomm<N>` (a radio link rather than an adapter). A config file,
//! which only the operator can edit, may allow further device paths by name (e.g. a udev
//! rule's `/dev/modbus0`) in `polling.allowed_serial_ports`; see [`check_extra_port`].

use super::pattern::decimal_range;
use super::text::check_text;
use std::path::Path;

/// The kernel name prefixes of serial adapters accepted under `/dev/`.
pub const ADAPTER_PREFIXES: [&str; 8] = [
    "ttyS", "ttyUSB", "ttyACM", "ttyAMA", "ttyXRUSB", "ttymxc", "ttyO", "ttySC",
];
/// The udev folders of stable serial port names.
pub const STABLE_NAME_FOLDERS: [&str; 2] = ["/dev/serial/by-id/", "/dev/serial/by-path/"];
const MAX_ADAPTER_NUMBER: u64 = 9_999;
const MAX_COM_PORT: u64 = 256;

/// What an accepted port looks like, for messages.
pub const SERIAL_PORTS: &str = "must be a serial adapter: /dev/ttyS<N>, /dev/ttyUSB<N>, \
    /dev/ttyACM<N>, /dev/ttyAMA<N>, /dev/ttyXRUSB<N>, /dev/ttymxc<N>, /dev/ttyO<N>, \
    /dev/ttySC<N>, /dev/serial/by-id/<name>, /dev/serial/by-path/<name>, or COM1-COM256 \
    (a config file may allow other device paths in polling.allowed_serial_ports)";

/// Checks a serial port as written: the text rule, then the adapter list or the
/// operator's `extra` paths, then that it is not a directory.
pub fn check_serial_port(path: &str, extra: &[String]) -> Result<(), String> {
    check_text(path)?;
    let allowed = is_adapter(path) || extra.iter().any(|e| e == path);
    if !allowed {
        return Err(format!("{path:?} {SERIAL_PORTS}"));
    }
    not_a_directory(path)
}

/// Checks one path of `polling.allowed_serial_ports`: an absolute path under `/dev/`, one
/// component after another, that is not a directory.
pub fn check_extra_port(path: &str) -> Result<(), String> {
    check_text(path)?;
    let Some(rest) = path.strip_prefix("/dev/") else {
        return Err(format!("{path:?} must be a device path under /dev/"));
    };
    if rest
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(format!(
            "{path:?} must name a file under /dev/ plainly (no empty, \".\" or \"..\" parts)"
        ));
    }
    not_a_directory(path)
}

fn not_a_directory(path: &str) -> Result<(), String> {
    if Path::new(path).is_dir() {
        return Err(format!("{path:?} is a directory, not a serial port"));
    }
    Ok(())
}

/// Whether `path` has the shape of a serial adapter (without looking at the file system).
fn is_adapter(path: &str) -> bool {
    if let Some(name) = path.strip_prefix("/dev/") {
        let numbered = ADAPTER_PREFIXES.iter().any(|p| {
            name.strip_prefix(p)
                .is_some_and(|n| plain_number(n, MAX_ADAPTER_NUMBER, 0))
        });
        if numbered {
            return true;
        }
    }
    if let Some(name) = STABLE_NAME_FOLDERS
        .iter()
        .find_map(|folder| path.strip_prefix(folder))
    {
        return !name.is_empty()
            && name != "."
            && name != ".."
            && name.bytes().all(|b| b.is_ascii_graphic() && b != b'/');
    }
    path.get(..3)
        .is_some_and(|com| com.eq_ignore_ascii_case("COM"))
        && plain_number(&path[3..], MAX_COM_PORT, 1)
}

/// Digits without a leading zero naming a number in `min..=max`.
fn plain_number(text: &str, max: u64, min: u64) -> bool {
    !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'))
        && text.parse::<u64>().is_ok_and(|n| (min..=max).contains(&n))
}

/// The pattern of the ports [`check_serial_port`] accepts without extra paths (less the
/// directory check, which needs the file system).
pub fn serial_port_pattern() -> String {
    let n = decimal_range(0, MAX_ADAPTER_NUMBER);
    let com = decimal_range(1, MAX_COM_PORT);
    // A file name of printable ASCII without '/', other than "." and "..".
    let any = "[!-.0-~]";
    let not_dot = "[!-\\-0-~]";
    let file = format!("(?:{not_dot}{any}*|\\.{not_dot}{any}*|\\.\\.{any}+)");
    format!(
        "^(?:/dev/(?:{})(?:{n})|/dev/serial/by-(?:id|path)/{file}|[Cc][Oo][Mm]{com})$",
        ADAPTER_PREFIXES.join("|")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    #[test]
    fn adapters_pass_and_other_files_do_not() {
        let re = Regex::new(&serial_port_pattern()).expect("regex");
        for good in [
            "/dev/ttyS0",
            "/dev/ttyS31",
            "/dev/ttyUSB0",
            "/dev/ttyUSB12",
            "/dev/ttyACM0",
            "/dev/ttyAMA0",
            "/dev/ttyXRUSB1",
            "/dev/ttymxc2",
            "/dev/ttyO4",
            "/dev/ttySC0",
            "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0",
            "/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0",
            "/dev/serial/by-id/...",
            "COM1",
            "com10",
            "Com256",
        ] {
            assert_eq!(check_serial_port(good, &[]), Ok(()), "{good}");
            assert!(re.is_match(good), "{good}");
        }
        for (bad, says) in [
            ("/dev/tty", SERIAL_PORTS),
            ("/dev/tty1", SERIAL_PORTS),
            ("/dev/ttyprintk", SERIAL_PORTS),
            ("/dev/pts/ptmx", SERIAL_PORTS),
            ("/dev/pts/0", SERIAL_PORTS),
            ("/dev/console", SERIAL_PORTS),
            ("/dev/rfcomm0", SERIAL_PORTS),
            ("/dev/ttyUSB", SERIAL_PORTS),
            ("/dev/ttyUSB01", SERIAL_PORTS),
            ("/dev/ttyUSB10000", SERIAL_PORTS),
            ("/dev/ttyUSB0/", SERIAL_PORTS),
            ("/dev/ttyUSB0/../../etc/passwd", SERIAL_PORTS),
            ("/dev/serial/by-id/", SERIAL_PORTS),
            ("/dev/serial/by-id/.", SERIAL_PORTS),
            ("/dev/serial/by-id/..", SERIAL_PORTS),
            ("/dev/serial/by-id/a/b", SERIAL_PORTS),
            ("/dev/serial/by-id/a b", SERIAL_PORTS),
            ("/etc/passwd", SERIAL_PORTS),
            ("/dev/ttyUSB0\0", "contains U+0000 NULL at position 13"),
            ("/dev/ttyUSB0\n", "contains U+000A LINE FEED at position 13"),
            (
                "/dev/ttyUSB0\u{202E}",
                "contains U+202E RIGHT-TO-LEFT OVERRIDE at position 13",
            ),
            ("/dev/ttyUSB0 ", "ends with U+0020 SPACE"),
            (" /dev/ttyUSB0", "starts with U+0020 SPACE"),
            ("COM0", SERIAL_PORTS),
            ("COM257", SERIAL_PORTS),
            ("COM01", SERIAL_PORTS),
            ("COM99999999999999999999", SERIAL_PORTS),
            ("COM", SERIAL_PORTS),
            ("\\\\.\\COM10", SERIAL_PORTS),
        ] {
            let e = check_serial_port(bad, &[]).expect_err(bad);
            assert!(e.contains(says), "{bad:?}: {e}");
            assert!(!re.is_match(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_directory_is_refused_even_under_the_stable_name_folders() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().to_str().expect("utf-8").to_string();
        assert!(
            check_serial_port(&path, std::slice::from_ref(&path))
                .expect_err("a directory")
                .ends_with("is a directory, not a serial port")
        );
        if Path::new("/dev/serial/by-id").is_dir() {
            assert!(check_serial_port("/dev/serial/by-id/.", &[]).is_err());
        }
    }

    #[test]
    fn the_operator_may_allow_other_device_paths() {
        let extra = vec!["/dev/modbus0".to_string()];
        assert_eq!(check_serial_port("/dev/modbus0", &extra), Ok(()));
        assert!(check_serial_port("/dev/modbus1", &extra).is_err());
        assert_eq!(check_extra_port("/dev/modbus0"), Ok(()));
        assert_eq!(check_extra_port("/dev/rs485/line2"), Ok(()));
        for bad in [
            "/etc/passwd",
            "modbus0",
            "/dev/",
            "/dev/../etc/passwd",
            "/dev//x",
            "/dev/a/",
        ] {
            assert!(check_extra_port(bad).is_err(), "{bad}");
        }
        assert!(check_extra_port("/dev").is_err());
        if Path::new("/dev/pts").is_dir() {
            assert!(
                check_extra_port("/dev/pts")
                    .expect_err("a directory")
                    .contains("is a directory")
            );
        }
    }
}
