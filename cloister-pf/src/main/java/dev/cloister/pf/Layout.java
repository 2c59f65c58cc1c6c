package dev.cloister.pf;

/**
 * Where things are in a Gramine encrypted file (gramine.md section 1.2): 4 KiB nodes; node 0 holds the
 * metadata and the first 3072 plaintext bytes; MHT node m sits right before its 96 data nodes.
 */
final class Layout {
    static final int NODE = 4096;
    static final int MD_DATA = 3072;
    static final int DATA_PER_MHT = 96;
    static final int CHILDREN_PER_MHT = 32;
    static final int ENTRY = 32; // key (16) + GCM tag (16)
    static final int KEY = 16;
    static final int TAG = 16;
    static final int NONCE = 32;
    static final int PATH_FIELD = 772;
    static final int ENCRYPTED_METADATA = 3884; // path 772 + size 8 + root key 16 + root mac 16 + data 3072
    static final long MAX_SIZE = Long.MAX_VALUE / 2; // far beyond anything real; keeps arithmetic exact

    private Layout() {}

    /** Data nodes needed for a plaintext of {@code size} bytes. */
    static long dataNodes(long size) {
        return size <= MD_DATA ? 0 : (size - MD_DATA + NODE - 1) / NODE;
    }

    /** MHT nodes needed for {@code dataNodes} data nodes. */
    static long mhtNodes(long dataNodes) {
        return dataNodes == 0 ? 0 : (dataNodes - 1) / DATA_PER_MHT + 1;
    }

    static long physicalOfData(long d) {
        return d + 2 + d / DATA_PER_MHT;
    }

    static long physicalOfMht(long m) {
        return m == 0 ? 1 : 1 + m * 97;
    }

    /** The host file size for a plaintext of {@code size} bytes. */
    static long hostSize(long size) {
        long n = dataNodes(size);
        return n == 0 ? NODE : (physicalOfData(n - 1) + 1) * NODE;
    }

    /** Plaintext offset where data node {@code d} starts. */
    static long dataStart(long d) {
        return MD_DATA + d * NODE;
    }

    static long parentOf(long m) {
        return (m - 1) / CHILDREN_PER_MHT;
    }

    /** Offset within the parent MHT plaintext of the child entry for MHT {@code m >= 1}. */
    static int childSlotOffset(long m) {
        return MD_DATA + (int) ((m - 1) % CHILDREN_PER_MHT) * ENTRY;
    }

    /** Offset within MHT {@code d/96}'s plaintext of the entry for data node {@code d}. */
    static int dataSlotOffset(long d) {
        return (int) (d % DATA_PER_MHT) * ENTRY;
    }
}
