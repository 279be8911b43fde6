//! POSIX shared memory and named semaphores: the files of `/dev/shm`
//! (`sem.NAME` for a semaphore), with the processes that map or hold
//! each. ipcx's own segments are recognised and described (ring size,
//! producer, readers and what each has not read yet).

use std::os::unix::fs::MetadataExt;

use super::procs::{FdTarget, ProcessTable};
use super::{Kind, Object};

pub(crate) fn collect(procs: &ProcessTable, out: &mut Vec<Object>) {
    let Ok(dir) = std::fs::read_dir("/dev/shm") else {
        return;
    };
    for entry in dir.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let path = format!("/dev/shm/{file}");
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.file_type().is_file() {
            continue;
        }
        let (kind, name) = match file.strip_prefix("sem.") {
            Some(sem) => (Kind::PosixSem, format!("/{sem}")),
            None => (Kind::PosixShm, format!("/{file}")),
        };
        let mut o = Object::new(kind, name.clone()).owned_by(meta.uid(), Some(meta.mode()));
        o.size = Some(meta.size());
        let mut holders = procs.mappers(&path);
        holders.extend(procs.holders(&FdTarget::Path(path.clone().into())));
        o.processes = holders;
        if kind == Kind::PosixShm {
            describe(&mut o, &file, &name);
        }
        out.push(o);
    }
}

/// Marks and describes ipcx's own files: rings and statistics areas.
fn describe(o: &mut Object, file: &str, name: &str) {
    if let Some(pid) = file.strip_prefix(ipcx::stats::FILE_PREFIX) {
        o.ipcx = Some(format!("(statistics of pid {pid})"));
        return;
    }
    let mut magic = [0u8; 8];
    let is_ipcx = std::fs::File::open(format!("/dev/shm/{file}"))
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"ipcx-shm";
    if !is_ipcx {
        return;
    }
    o.ipcx = Some(format!("shm:{name}"));
    match ipcx::inspect::shm_segment(name) {
        Ok(seg) => {
            o.capacity = Some(seg.capacity);
            o.queued_bytes = seg.attached_readers.iter().map(|r| r.1).max();
            o.state = Some(format!(
                "{} reader(s) of {}, producer {}, {}",
                seg.attached_readers.len(),
                seg.readers,
                seg.producer
                    .map_or_else(|| "none".to_owned(), |p| format!("pid {p}")),
                seg.overflow
            ));
        }
        Err(e) => o.restrict(format!("ipcx segment not readable: {e}")),
    }
}
