package dev.cloister.pf;

/**
 * What an encrypted file holds, as learnt from its authenticated metadata.
 *
 * @param version the format version
 * @param path the embedded path the file is bound to
 * @param plaintextSize the plaintext size in bytes
 * @param hostSize the encrypted file's size in bytes
 * @param dataNodes data nodes (4 KiB of plaintext each, beyond the first 3072 bytes)
 * @param mhtNodes Merkle-tree nodes
 */
public record PfInfo(PfVersion version, String path, long plaintextSize, long hostSize, long dataNodes, long mhtNodes) {
    static PfInfo of(PfVersion v, String path, long size) {
        long d = Layout.dataNodes(size);
        return new PfInfo(v, path, size, Layout.hostSize(size), d, Layout.mhtNodes(d));
    }
}
