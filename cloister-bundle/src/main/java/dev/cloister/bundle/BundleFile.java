package dev.cloister.bundle;

/**
 * One file of a bundle: where the enclave sees it, its SHA-256 and size, and whether it is executable (the only
 * mode bit a bundle keeps: files are 0755 or 0644).
 *
 * @param path       absolute path inside the enclave's file system
 * @param sha256     lower-case hex SHA-256 of the content
 * @param size       size in bytes
 * @param executable whether the file is stored with mode 0755
 */
public record BundleFile(String path, String sha256, long size, boolean executable) {}
