//! The operating systems an image may declare (what DescribeImportImageOs lists).

/// `(OsType, versions)`; `-` stands for "not applicable", as Tencent writes it.
pub(super) const LINUX: &[(&str, &[&str])] = &[
    ("CentOS", &["6", "7", "8"]),
    ("Ubuntu", &["16.04", "18.04", "20.04", "22.04", "24.04"]),
    ("Debian", &["9", "10", "11", "12"]),
    ("OpenSUSE", &["15"]),
    ("SUSE", &["12", "15"]),
    ("CoreOS", &["-"]),
    ("FreeBSD", &["12", "13", "14"]),
    ("Other Linux", &["-"]),
];

pub(super) const WINDOWS: &[(&str, &[&str])] =
    &[("Windows Server 2012", &["-"]), ("Windows Server 2016", &["-"]), ("Windows Server 2019", &["-"])];

pub(super) fn versions_of(os_type: &str) -> Option<&'static [&'static str]> {
    LINUX.iter().chain(WINDOWS).find(|(name, _)| *name == os_type).map(|(_, versions)| *versions)
}
