//! Reading one campaign file from disk: a size cap, the read, then [`super::validate`]'s parse
//! into the types of [`super::file`]. Its own file so the types do not import their validation.
use std::path::Path;

use super::file::{Campaign, CampaignContext, CampaignFileError, FileProblem};
use super::validate::parse_campaign;

/// Files larger than this are refused before parsing: a campaign file is a screenful of TOML.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Reads and validates one campaign file.
pub fn load_campaign(path: &Path, ctx: &CampaignContext) -> Result<Campaign, CampaignFileError> {
    let read_err = |source| CampaignFileError::Read {
        file: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_err)?.len();
    if size > MAX_FILE_BYTES {
        return Err(CampaignFileError::Invalid {
            file: path.to_path_buf(),
            problems: vec![FileProblem {
                line: 0,
                column: 0,
                key: String::new(),
                message: format!("file is {size} bytes, expected a campaign file under 1 MiB"),
            }],
        });
    }
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    parse_campaign(path, &text, ctx).map_err(|problems| CampaignFileError::Invalid {
        file: path.to_path_buf(),
        problems,
    })
}
