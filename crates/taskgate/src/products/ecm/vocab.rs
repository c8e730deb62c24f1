//! ecm's closed sets of wire values, as enums with their Tencent spelling. A request naming a
//! value outside a set is refused by `params::decode` as `InvalidParameterValue` naming the
//! field, with the message each `TryFrom<String>` gives.

use serde::{Deserialize, Serialize};

/// `Architecture` of an imported image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub(super) enum Architecture {
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "i386")]
    I386,
}

impl Architecture {
    /// Every architecture, in the order DescribeImportImageOs lists them.
    pub(super) const ALL: [Self; 2] = [Self::X86_64, Self::I386];

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::I386 => "i386",
        }
    }

    /// The word size DescribeImage's `ImageOsName` ends with (`64位`, `32位`).
    pub(super) fn bits(self) -> &'static str {
        match self {
            Self::X86_64 => "64",
            Self::I386 => "32",
        }
    }

    pub(super) fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

impl TryFrom<String> for Architecture {
    type Error = &'static str;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text).ok_or("must be x86_64 or i386")
    }
}

/// `InitFlag` of an imported image: how an instance of it is initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub(super) enum InitFlag {
    #[default]
    #[serde(rename = "cloudinit")]
    CloudInit,
    #[serde(rename = "nbd")]
    Nbd,
}

impl InitFlag {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::CloudInit => "cloudinit",
            Self::Nbd => "nbd",
        }
    }

    pub(super) fn parse(text: &str) -> Option<Self> {
        [Self::CloudInit, Self::Nbd].into_iter().find(|f| f.as_str() == text)
    }
}

impl TryFrom<String> for InitFlag {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text).ok_or_else(|| format!("`{text}` is not cloudinit or nbd"))
    }
}

/// `State` of an import task (DescribeCustomImageTask).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub(super) enum TaskStatus {
    Pending,
    Processing,
    Success,
    Failed,
}

/// `ImageState` of an image (DescribeImage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub(super) enum ImageState {
    Normal,
    Importing,
    ImportFailed,
}

/// `ImageType` of an image; every imported image is private.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(super) enum ImageType {
    PrivateImage,
}

/// `ImageSource` of an image; every image here was imported from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(super) enum ImageSource {
    ExternalImport,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_names_are_tencents() {
        let values = json!([
            TaskStatus::Processing,
            ImageState::ImportFailed,
            ImageType::PrivateImage,
            ImageSource::ExternalImport,
            Architecture::X86_64,
            InitFlag::CloudInit
        ]);
        assert_eq!(
            values,
            json!(["PROCESSING", "IMPORTFAILED", "PRIVATE_IMAGE", "EXTERNAL_IMPORT", "x86_64", "cloudinit"])
        );
    }

    #[test]
    fn an_unknown_architecture_or_init_flag_is_refused_with_what_is_accepted() {
        let arch = serde_json::from_value::<Architecture>(json!("arm64")).unwrap_err().to_string();
        assert!(arch.contains("must be x86_64 or i386"), "{arch}");
        let flag = serde_json::from_value::<InitFlag>(json!("magic")).unwrap_err().to_string();
        assert!(flag.contains("`magic` is not cloudinit or nbd"), "{flag}");
        assert_eq!(serde_json::from_value::<Architecture>(json!("i386")).unwrap(), Architecture::I386);
    }
}
