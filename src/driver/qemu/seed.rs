//! How a new VM gets its SSH host key and root's authorized key without
//! cloud-init and without mounting anything on this machine.
//!
//! The files are staged in a folder (as for containers) and made into a
//! small ext4 "seed" disk labelled `rgseed` with `mkfs.ext4 -d`. Images that
//! redgreen bootstraps have a unit that copies the seed into place before
//! sshd starts. For cloud images, the same keys also go on a NoCloud seed
//! (an ISO 9660 volume labelled `cidata`) that cloud-init reads.

use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

use crate::driver::{DriverError, State, have};

/// The staged files of a new VM, and its public host key.
pub struct Staged {
    /// The folder that holds `root/` (the tree copied into the guest).
    pub dir: tempfile::TempDir,
    /// `ssh-ed25519 AAAA... NAME`.
    pub host_public_key: String,
}

/// Stage a VM's files: its own host key, root's authorized_keys, its
/// hostname and /etc/hosts.
pub fn stage(state: &State, name: &str) -> Result<Staged, DriverError> {
    let dir = tempfile::tempdir().map_err(|e| DriverError::new(e.to_string()))?;
    let host_public_key = crate::driver::docker::stage_files(dir.path(), state, name)?;
    let root = dir.path().join("root");
    let io = |e: std::io::Error| DriverError::new(format!("cannot stage the VM's files: {e}"));
    std::fs::write(root.join("etc/hostname"), format!("{name}\n")).map_err(io)?;
    std::fs::write(
        root.join("etc/hosts"),
        format!(
            "127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        ),
    )
    .map_err(io)?;
    Ok(Staged {
        dir,
        host_public_key,
    })
}

/// Make the ext4 seed disk `path` from the staged files (call it before
/// anything else is put in the staging folder).
pub async fn make_disk(staged: &Staged, path: &Path) -> Result<(), DriverError> {
    let _ = std::fs::remove_file(path);
    // The seed's own root holds `root/`, the tree the guest copies to `/`.
    let output = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "rgseed", "-d"])
        .arg(staged.dir.path())
        .arg(path)
        .arg("4M")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| {
            DriverError::new(format!(
                "cannot run mkfs.ext4 (apt-get install e2fsprogs): {e}"
            ))
        })?;
    if !output.status.success() {
        return Err(DriverError::new(format!(
            "cannot make the seed disk: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

/// The cloud-init user-data that gives root the project's key and the VM
/// its host key (and nothing else: no password, no other key type).
pub fn user_data(
    name: &str,
    authorized_key: &str,
    host_private_key: &str,
    host_public_key: &str,
) -> String {
    let indented: String = host_private_key
        .trim_end()
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect();
    format!(
        "#cloud-config\n\
         hostname: {name}\n\
         disable_root: false\n\
         ssh_pwauth: false\n\
         ssh_deletekeys: true\n\
         ssh_genkeytypes: []\n\
         ssh_authorized_keys:\n  - {authorized}\n\
         ssh_keys:\n  ed25519_private: |\n{indented}  ed25519_public: {public}\n",
        authorized = authorized_key.trim(),
        public = host_public_key.trim(),
    )
}

/// The cloud-init meta-data: a new instance id for every VM, so that
/// cloud-init runs its first-boot modules.
pub fn meta_data(id: &str, name: &str) -> String {
    format!("instance-id: {id}\nlocal-hostname: {name}\n")
}

/// Make the NoCloud seed `path` if an ISO tool is installed (genisoimage,
/// mkisofs or xorriso). Returns false when there is none.
pub async fn make_cidata(
    staged: &Staged,
    state: &State,
    id: &str,
    name: &str,
    path: &Path,
) -> Result<bool, DriverError> {
    let io = |e: std::io::Error| DriverError::new(format!("cannot stage the NoCloud seed: {e}"));
    let root = staged.dir.path().join("root");
    // Beside, not inside, the staged tree that the ext4 seed is made from.
    let cidata = tempfile::tempdir().map_err(io)?;
    let folder = cidata.path();
    let private = std::fs::read_to_string(root.join("etc/ssh/ssh_host_ed25519_key")).map_err(io)?;
    let authorized = std::fs::read_to_string(state.key().with_extension("pub")).map_err(io)?;
    std::fs::write(
        folder.join("user-data"),
        user_data(name, &authorized, &private, &staged.host_public_key),
    )
    .map_err(io)?;
    std::fs::write(folder.join("meta-data"), meta_data(id, name)).map_err(io)?;
    let mut command = if have("genisoimage") {
        Command::new("genisoimage")
    } else if have("mkisofs") {
        Command::new("mkisofs")
    } else if have("xorriso") {
        let mut command = Command::new("xorriso");
        command.args(["-as", "mkisofs"]);
        command
    } else {
        return Ok(false);
    };
    let _ = std::fs::remove_file(path);
    let output = command
        .args(["-quiet", "-volid", "cidata", "-joliet", "-rock", "-output"])
        .arg(path)
        .arg(folder.join("user-data"))
        .arg(folder.join("meta-data"))
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| DriverError::new(format!("cannot make the NoCloud seed: {e}")))?;
    if !output.status.success() {
        return Err(DriverError::new(format!(
            "cannot make the NoCloud seed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_init_gets_the_keys_and_nothing_else() {
        let text = user_data(
            "web-debian-12",
            "ssh-ed25519 AAAAproject redgreen test hosts 0a1b2c3d\n",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAEbm9uZQ==\n-----END OPENSSH PRIVATE KEY-----\n",
            "ssh-ed25519 AAAAhost web-debian-12",
        );
        insta::assert_snapshot!(text);
    }

    #[test]
    fn every_vm_is_a_new_instance() {
        assert_eq!(
            meta_data("rg-0a1b2c3d-web-debian-12", "web-debian-12"),
            "instance-id: rg-0a1b2c3d-web-debian-12\nlocal-hostname: web-debian-12\n"
        );
    }
}
