//! The task folder `{data_root}/{task_id}/`: safe names, listing, archives and checksums.
//! A name from a request is one plain file name; anything that could leave the folder
//! (separators, `..`, absolute paths, NUL, symlinks) is refused before the disk is touched.
use crate::error::{PipelineError, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

pub const TASK_CONFIG_FILE: &str = "task_config.json";

/// Task ids are also folder names.
pub fn check_task_id(task_id: &str) -> Result<()> {
    let ok = !task_id.is_empty()
        && task_id.len() <= 128
        && task_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(PipelineError::validation_with(
            format!("invalid task id {task_id:?}"),
            serde_json::json!({"task_id": task_id}),
        ))
    }
}

/// One plain file name inside the task folder.
pub fn check_file_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() > 255
        || name == "."
        || name == ".."
        || name.starts_with('.')
        || name.contains(['/', '\\', '\0'])
        || name.contains("..")
        || Path::new(name).is_absolute();
    if bad {
        return Err(PipelineError::validation_with(
            format!("invalid file name {name:?}: a file name must be a plain name inside the task folder"),
            serde_json::json!({"file_name": name, "reason": "path_traversal_or_invalid"}),
        ));
    }
    Ok(())
}

/// A relative path given in a request (such as `table_list_file`): no absolute paths and no `..`.
pub fn check_relative_path(field: &str, value: &str) -> Result<()> {
    let p = Path::new(value);
    let bad = value.trim().is_empty()
        || value.contains('\0')
        || p.is_absolute()
        || value.starts_with('\\')
        || p.components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        || value.split(['/', '\\']).any(|s| s == "..");
    if bad {
        return Err(PipelineError::validation_with(
            format!("{field} must be a relative path without '..' (got {value:?})"),
            serde_json::json!({"field": field, "value": value}),
        ));
    }
    Ok(())
}

pub fn task_dir(data_root: &Path, task_id: &str) -> Result<PathBuf> {
    check_task_id(task_id)?;
    Ok(data_root.join(task_id))
}

/// Resolve a requested file to a regular file inside the task folder.
pub fn resolve(task_dir: &Path, name: &str) -> Result<PathBuf> {
    check_file_name(name)?;
    let path = task_dir.join(name);
    let meta = std::fs::symlink_metadata(&path)
        .map_err(|_| PipelineError::NotFound(format!("file {name} does not exist")))?;
    if !meta.file_type().is_file() {
        return Err(PipelineError::NotFound(format!(
            "file {name} does not exist (not a regular file)"
        )));
    }
    let (canon, root) = (path.canonicalize()?, task_dir.canonicalize()?);
    if !canon.starts_with(&root) {
        return Err(PipelineError::validation(format!(
            "file {name} resolves outside the task folder"
        )));
    }
    Ok(path)
}

pub fn file_type(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".tar.gz") || lower.ends_with(".zip") {
        return "archive";
    }
    match lower.rsplit_once('.').map(|(_, e)| e) {
        Some("log") => "log",
        Some("json") => "json",
        Some("ddl") => "ddl",
        Some("md") => "markdown",
        Some("txt") => "text",
        Some("sql") => "sql",
        _ => "other",
    }
}

pub fn content_type(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".tar.gz") {
        return "application/gzip";
    }
    match lower.rsplit_once('.').map(|(_, e)| e) {
        Some("json") => "application/json",
        Some("zip") => "application/zip",
        Some("log") | Some("txt") | Some("ddl") | Some("sql") => "text/plain; charset=utf-8",
        Some("md") => "text/markdown; charset=utf-8",
        _ => "application/octet-stream",
    }
}

pub struct DirFile {
    pub name: String,
    pub size: u64,
    pub modified: chrono::DateTime<chrono::Utc>,
}

/// Regular files of the folder, by name; hidden and temporary files are left out.
pub fn list(task_dir: &Path) -> Result<Vec<DirFile>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(task_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let entry = entry?;
        let meta = entry.metadata()?;
        let name = entry.file_name().to_string_lossy().to_string();
        if !entry.file_type()?.is_file() || name.starts_with('.') {
            continue;
        }
        out.push(DirFile {
            name,
            size: meta.len(),
            modified: meta.modified()?.into(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut r = BufReader::new(File::open(path)?);
    let mut h = Sha256::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Archives made by the API; they are not put into later archives.
pub fn is_archive_of(task_id: &str, name: &str) -> bool {
    name.starts_with(&format!("{task_id}_files_"))
        && (name.ends_with(".zip") || name.ends_with(".tar.gz"))
}

/// Write an archive of `files` (names in `task_dir`) to `task_dir/archive_name`.
pub fn write_archive(
    task_dir: &Path,
    archive_name: &str,
    format: &str,
    files: &[String],
) -> Result<u64> {
    let tmp = task_dir.join(format!(".{archive_name}.tmp"));
    let out = File::create(&tmp)?;
    match format {
        "zip" => {
            let mut zip = zip::ZipWriter::new(out);
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            for name in files {
                zip.start_file(name.as_str(), opts)
                    .map_err(|e| PipelineError::Internal(format!("zip: {e}")))?;
                std::io::copy(&mut File::open(task_dir.join(name))?, &mut zip)?;
            }
            zip.finish()
                .map_err(|e| PipelineError::Internal(format!("zip: {e}")))?;
        }
        "tar.gz" => {
            let gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            let mut tar = tar::Builder::new(gz);
            for name in files {
                tar.append_path_with_name(task_dir.join(name), name)?;
            }
            tar.into_inner()?.finish()?;
        }
        other => {
            return Err(PipelineError::validation(format!(
                "unknown archive_format {other:?}: use zip or tar.gz"
            )))
        }
    }
    let dest = task_dir.join(archive_name);
    std::fs::rename(&tmp, &dest)?;
    Ok(std::fs::metadata(&dest)?.len())
}

/// Bytes and files under a folder (not following symlinks).
pub fn dir_usage(dir: &Path) -> (u64, u64) {
    let mut bytes = 0;
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                files += 1;
                bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    (bytes, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_the_folder_are_refused() {
        for bad in [
            "../x",
            "..",
            "/etc/passwd",
            "a/b",
            "a\\b",
            ".hidden",
            "x\0y",
            "",
            "..%2f",
        ] {
            assert!(check_file_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "data_pipeline.log",
            "qs_highway_db_20250627_143052_pair.json",
        ] {
            assert!(check_file_name(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn relative_paths_only() {
        assert!(check_relative_path("f", "tables.txt").is_ok());
        assert!(check_relative_path("f", "lists/tables.txt").is_ok());
        for bad in ["/etc/passwd", "../tables.txt", "a/../../b", "", "./x"] {
            assert!(check_relative_path("f", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn resolve_refuses_symlinks_out() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ok.txt"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("link.txt")).unwrap();
        assert!(resolve(dir.path(), "ok.txt").is_ok());
        assert!(matches!(
            resolve(dir.path(), "link.txt"),
            Err(PipelineError::NotFound(_))
        ));
        assert!(matches!(
            resolve(dir.path(), "missing.txt"),
            Err(PipelineError::NotFound(_))
        ));
    }

    #[test]
    fn archives_hold_the_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.json"), b"{\"a\":1}").unwrap();
        std::fs::write(dir.path().join("b.log"), b"line\n").unwrap();
        let files = vec!["a.json".to_string(), "b.log".to_string()];
        let size = write_archive(dir.path(), "t_files_1.zip", "zip", &files).unwrap();
        assert!(size > 0);
        let mut z =
            zip::ZipArchive::new(File::open(dir.path().join("t_files_1.zip")).unwrap()).unwrap();
        assert_eq!(z.len(), 2);
        let mut s = String::new();
        z.by_name("a.json").unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "{\"a\":1}");
        write_archive(dir.path(), "t_files_1.tar.gz", "tar.gz", &files).unwrap();
        let gz =
            flate2::read::GzDecoder::new(File::open(dir.path().join("t_files_1.tar.gz")).unwrap());
        let names: Vec<String> = tar::Archive::new(gz)
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().to_string())
            .collect();
        assert_eq!(names, files);
        assert!(write_archive(dir.path(), "x.rar", "rar", &files).is_err());
    }
}
