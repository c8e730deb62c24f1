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

/// Whether `given` names the listed `version` or one of its point releases: the real service's
/// own ImportCustomImage example declares CentOS `7.6` while DescribeImportImageOs lists `7`.
pub(super) fn names_version(version: &str, given: &str) -> bool {
    given == version
        || (version != "-"
            && given.strip_prefix(version).and_then(|rest| rest.strip_prefix('.')).is_some_and(|release| {
                !release.is_empty()
                    && release.split('.').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
            }))
}

#[cfg(test)]
mod tests {
    use super::names_version;

    #[test]
    fn a_point_release_names_its_listed_version() {
        let cases = [
            ("7", "7", true),
            ("7", "7.6", true),
            ("22.04", "22.04.3", true),
            ("7", "7.6.1810", true),
            ("7", "70", false),
            ("7", "7.", false),
            ("7", "7..6", false),
            ("7", "7.x", false),
            ("7", "8.1", false),
            ("-", "-", true),
            ("-", "-.1", false),
        ];
        for (version, given, expected) in cases {
            assert_eq!(names_version(version, given), expected, "{given} of {version}");
        }
    }
}
