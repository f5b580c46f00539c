//! The task folder's operations: its files, the uploaded table list, downloads, archives,
//! integrity checks and cleanup (paths from requests never leave the task folder).
use super::*;

impl Service {
    pub fn list_files(&self, caller: &Caller, task_id: &str) -> Result<FileList> {
        let mut conn = self.conn()?;
        self.load_task(&mut conn, caller, task_id)?;
        drop(conn);
        let entries = files::list(&self.task_dir(task_id)?)?;
        let total_size = entries.iter().map(|f| f.size).sum();
        Ok(FileList {
            task_id: task_id.into(),
            total_size,
            files: entries
                .into_iter()
                .map(|f| FileEntry {
                    file_type: files::file_type(&f.name).into(),
                    download_url: download_url(task_id, &f.name),
                    file_size: f.size,
                    modified_at: wire(f.modified),
                    file_name: f.name,
                })
                .collect(),
        })
    }

    /// Save the task's table list into its folder (where `ddl_generation` looks first), under
    /// the name the task was created with, which must then be a plain file name. The caller
    /// checks the content. Answers the file's name, size and sha256.
    pub fn save_table_list(
        &self,
        caller: &Caller,
        task_id: &str,
        bytes: &[u8],
    ) -> Result<serde_json::Value> {
        let mut conn = self.conn()?;
        let task = self.load_task(&mut conn, caller, task_id)?;
        let name = task.table_list_file.clone();
        files::check_file_name(&name).map_err(|_| {
            PipelineError::validation_with(
                format!("the task's table_list_file {name:?} is a path: an uploaded list needs a plain file name (create the task with one)"),
                json!({"field": "table_list_file", "value": name}),
            )
        })?;
        let dir = self.task_dir(task_id)?;
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".{name}.upload"));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, dir.join(&name))?;
        let sha = files::sha256_hex(bytes);
        crate::records::record_output(&mut conn, task_id, None, None, &dir, &name, &sha)?;
        crate::logs::TaskLogger::new(self.pool.clone(), &dir, task_id, None).log(
            "INFO",
            None,
            &format!(
                "table list {name} uploaded by {} ({} bytes)",
                caller.username,
                bytes.len()
            ),
        );
        Ok(json!({"task_id": task_id, "file_name": name, "file_size": bytes.len(), "sha256": sha}))
    }

    /// The path of a file to download, after the ownership and name checks.
    pub fn file_path(&self, caller: &Caller, task_id: &str, name: &str) -> Result<PathBuf> {
        files::check_file_name(name)?;
        let mut conn = self.conn()?;
        self.load_task(&mut conn, caller, task_id)?;
        files::resolve(&self.task_dir(task_id)?, name)
    }

    pub fn archive(
        &self,
        caller: &Caller,
        task_id: &str,
        req: ArchiveRequest,
    ) -> Result<ArchiveResponse> {
        let format = req.archive_format.unwrap_or_else(|| "zip".into());
        let ext = match format.as_str() {
            "zip" => "zip",
            "tar.gz" | "tgz" => "tar.gz",
            other => {
                return Err(PipelineError::validation_with(
                    format!("unknown archive_format {other:?}: use zip or tar.gz"),
                    json!({"field": "archive_format", "valid": ["zip", "tar.gz"]}),
                ))
            }
        };
        let mut conn = self.conn()?;
        self.load_task(&mut conn, caller, task_id)?;
        drop(conn);
        let dir = self.task_dir(task_id)?;
        let names: Vec<String> = files::list(&dir)?
            .into_iter()
            .map(|f| f.name)
            .filter(|n| !files::is_archive_of(task_id, n))
            .collect();
        if names.is_empty() {
            return Err(PipelineError::NotFound(format!(
                "task {task_id} has no files to archive"
            )));
        }
        let archive_name = format!(
            "{task_id}_files_{}_{:03}.{ext}",
            compact(chrono::Utc::now()),
            chrono::Utc::now().timestamp_subsec_millis()
        );
        let size = files::write_archive(&dir, &archive_name, ext, &names)?;
        Ok(ArchiveResponse {
            task_id: task_id.into(),
            download_url: download_url(task_id, &archive_name),
            archive_name,
            archive_format: ext.into(),
            archive_size: size,
            file_count: names.len(),
        })
    }

    pub fn integrity(&self, caller: &Caller, task_id: &str) -> Result<IntegrityReport> {
        let mut conn = self.conn()?;
        self.load_task(&mut conn, caller, task_id)?;
        let recorded: BTreeMap<String, String> = o::table
            .filter(o::task_id.eq(task_id))
            .select(TaskOutput::as_select())
            .load(&mut conn)?
            .into_iter()
            .map(|r| (r.file_name, r.sha256))
            .collect();
        drop(conn);
        let dir = self.task_dir(task_id)?;
        let mut out = Vec::new();
        let on_disk = files::list(&dir)?;
        for f in &on_disk {
            let sha = files::sha256_file(&dir.join(&f.name))?;
            let rec = recorded.get(&f.name).cloned();
            let status = match &rec {
                Some(r) if *r == sha => "ok",
                Some(_) => "modified",
                None => "untracked",
            };
            out.push(IntegrityEntry {
                file_name: f.name.clone(),
                file_size: f.size,
                sha256: sha,
                status: status.into(),
                recorded_sha256: rec,
            });
        }
        for (name, sha) in &recorded {
            if !on_disk.iter().any(|f| &f.name == name) {
                out.push(IntegrityEntry {
                    file_name: name.clone(),
                    file_size: 0,
                    sha256: String::new(),
                    status: "missing".into(),
                    recorded_sha256: Some(sha.clone()),
                });
            }
        }
        let all_valid = out
            .iter()
            .all(|x| x.status == "ok" || x.status == "untracked");
        Ok(IntegrityReport {
            task_id: task_id.into(),
            files: out,
            all_valid,
        })
    }

    /// Remove the folders of the caller's tasks created more than `days_to_keep` days ago,
    /// except tasks with an execution in progress. Task records and DB logs stay.
    pub fn cleanup(&self, caller: &Caller, req: CleanupRequest) -> Result<CleanupResponse> {
        let days = req.days_to_keep.unwrap_or(30);
        if !(0..=36500).contains(&days) {
            return Err(PipelineError::validation_with(
                "days_to_keep must be between 0 and 36500",
                json!({"field": "days_to_keep", "value": days}),
            ));
        }
        let cutoff = chrono::Utc::now() - chrono::Duration::days(days);
        let mut conn = self.conn()?;
        let live = e::table
            .filter(e::status.eq_any(ExecutionStatus::LIVE))
            .select(e::task_id);
        let ids: Vec<String> = t::table
            .filter(t::bk_app_code.eq(&caller.app_code))
            .filter(t::created_at.lt(cutoff))
            .filter(t::task_id.ne_all(live))
            .select(t::task_id)
            .load(&mut conn)?;
        let (mut deleted_files, mut freed_bytes, mut cleaned) = (0, 0, Vec::new());
        for id in ids {
            let dir = self.task_dir(&id)?;
            if !dir.exists() {
                continue;
            }
            let (bytes, n) = files::dir_usage(&dir);
            std::fs::remove_dir_all(&dir)?;
            diesel::update(t::table.find(&id))
                .set(t::files_cleaned_at.eq(chrono::Utc::now()))
                .execute(&mut conn)?;
            deleted_files += n;
            freed_bytes += bytes;
            cleaned.push(id);
        }
        Ok(CleanupResponse {
            days_to_keep: days,
            cleaned_tasks: cleaned,
            deleted_files,
            freed_bytes,
        })
    }
}
