package dev.cloister.kbs.tlog;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * An append-only Merkle tree as defined by RFC 9162 (Certificate Transparency v2, section 2.1): SHA-256, leaf hash
 * {@code H(0x00 || data)}, interior node {@code H(0x01 || left || right)}, the left subtree of {@code n} leaves
 * holding the largest power of two below {@code n}. It makes roots, inclusion proofs and consistency proofs; the
 * static {@code verify} methods check them without the tree, which is what a log's clients do.
 *
 * <p>The tree keeps every leaf hash and remembers the root of every complete, aligned subtree of
 * {@value #MEMO_MIN} leaves or more, so a root or a proof over {@code n} leaves costs about
 * {@code MEMO_MIN * log2(n)} hashes instead of {@code n}. Thread-safe.
 */
public final class MerkleTree {
    /** Size of a SHA-256 hash. */
    public static final int HASH = 32;
    /** Subtrees at least this large are remembered once complete (they can never change). */
    static final int MEMO_MIN = 256;

    /** Leaf hashes packed in chunks of {@value #CHUNK_LEAVES} (32 bytes a leaf, no object per leaf). */
    static final int CHUNK_LEAVES = 1 << 15;

    private final List<byte[]> chunks = new ArrayList<>();
    private long count;
    private final Map<Long, byte[]> memo = new HashMap<>();

    /** Appends a leaf by its leaf hash (see {@link #leafHash}). */
    public synchronized void append(byte[] leafHash) {
        if (leafHash.length != HASH) {
            throw new IllegalArgumentException("a leaf hash is " + HASH + " bytes, not " + leafHash.length);
        }
        int at = (int) (count % CHUNK_LEAVES);
        if (at == 0) {
            chunks.add(new byte[CHUNK_LEAVES * HASH]);
        }
        System.arraycopy(leafHash, 0, chunks.getLast(), at * HASH, HASH);
        count++;
    }

    /** How many leaves the tree holds. */
    public synchronized long size() {
        return count;
    }

    /** The root hash of the first {@code size} leaves (SHA-256 of nothing for an empty tree). */
    public synchronized byte[] root(long size) {
        checkSize(size);
        return size == 0 ? sha256().digest() : subtree(0, size).clone();
    }

    /** RFC 9162 inclusion proof of leaf {@code index} (0-based) in the tree of the first {@code size} leaves. */
    public synchronized List<byte[]> inclusionProof(long index, long size) {
        checkSize(size);
        if (index < 0 || index >= size) {
            throw new IllegalArgumentException("leaf " + index + " is not in a tree of " + size);
        }
        List<byte[]> proof = new ArrayList<>();
        path(index, 0, size, proof);
        return copies(proof);
    }

    /** RFC 9162 consistency proof between the trees of the first {@code oldSize} and {@code newSize} leaves. */
    public synchronized List<byte[]> consistencyProof(long oldSize, long newSize) {
        checkSize(newSize);
        if (oldSize < 1 || oldSize > newSize) {
            throw new IllegalArgumentException("no consistency proof from size " + oldSize + " to " + newSize);
        }
        List<byte[]> proof = new ArrayList<>();
        if (oldSize < newSize) {
            subproof(oldSize, 0, newSize, true, proof);
        }
        return copies(proof);
    }

    /** {@code H(0x00 || data)}. */
    public static byte[] leafHash(byte[] data) {
        MessageDigest d = sha256();
        d.update((byte) 0);
        return d.digest(data);
    }

    /**
     * Checks that {@code leafHash} is leaf {@code index} of the tree of {@code size} leaves whose root is
     * {@code root} (RFC 9162 section 2.1.3.2).
     *
     * @throws ProofException when it is not
     */
    public static void verifyInclusion(long index, long size, byte[] leafHash, List<byte[]> proof, byte[] root)
            throws ProofException {
        if (index < 0 || index >= size) {
            throw new ProofException("leaf " + index + " cannot be in a tree of " + size);
        }
        checkHashes(proof);
        long fn = index;
        long sn = size - 1;
        byte[] r = leafHash;
        for (byte[] p : proof) {
            if (sn == 0) {
                throw new ProofException("inclusion proof is longer than a tree of " + size + " needs");
            }
            if ((fn & 1) == 1 || fn == sn) {
                r = node(p, r);
                if (fn != 0) {
                    // Climb past the levels where this node is a left child with no right sibling.
                    int z = Long.numberOfTrailingZeros(fn);
                    fn >>= z;
                    sn >>= z;
                }
            } else {
                r = node(r, p);
            }
            fn >>= 1;
            sn >>= 1;
        }
        if (sn != 0) {
            throw new ProofException("inclusion proof is shorter than a tree of " + size + " needs");
        }
        if (!MessageDigest.isEqual(r, root)) {
            throw new ProofException("leaf " + index + " is not in the tree of " + size + " with that root");
        }
    }

    /**
     * Checks that the tree of {@code newSize} leaves with root {@code newRoot} extends the tree of {@code oldSize}
     * leaves with root {@code oldRoot}, i.e. that nothing in the old tree was changed or removed (RFC 9162
     * section 2.1.4.2).
     *
     * @throws ProofException when it does not
     */
    public static void verifyConsistency(long oldSize, long newSize, byte[] oldRoot, byte[] newRoot,
            List<byte[]> proof) throws ProofException {
        if (oldSize < 0 || newSize < oldSize) {
            throw new ProofException("a log cannot shrink from " + oldSize + " to " + newSize + " entries");
        }
        checkHashes(proof);
        if (oldSize == 0) {
            // Every tree extends the empty one.
            return;
        }
        if (oldSize == newSize) {
            if (!proof.isEmpty()) {
                throw new ProofException("a consistency proof between equal sizes must be empty");
            }
            if (!MessageDigest.isEqual(oldRoot, newRoot)) {
                throw new ProofException("two different roots for the same size " + oldSize + ": the log forked");
            }
            return;
        }
        if (proof.isEmpty()) {
            throw new ProofException("empty consistency proof from " + oldSize + " to " + newSize);
        }
        List<byte[]> path = new ArrayList<>(proof);
        if (Long.bitCount(oldSize) == 1) {
            path.addFirst(oldRoot);
        }
        long fn = oldSize - 1;
        long sn = newSize - 1;
        int ones = Long.numberOfTrailingZeros(~fn);
        fn >>= ones;
        sn >>= ones;
        byte[] fr = path.getFirst();
        byte[] sr = path.getFirst();
        for (byte[] c : path.subList(1, path.size())) {
            if (sn == 0) {
                throw new ProofException("consistency proof is longer than needed");
            }
            if ((fn & 1) == 1 || fn == sn) {
                fr = node(c, fr);
                sr = node(c, sr);
                if (fn != 0) {
                    int z = Long.numberOfTrailingZeros(fn);
                    fn >>= z;
                    sn >>= z;
                }
            } else {
                sr = node(sr, c);
            }
            fn >>= 1;
            sn >>= 1;
        }
        if (sn != 0) {
            throw new ProofException("consistency proof is shorter than needed");
        }
        if (!MessageDigest.isEqual(fr, oldRoot)) {
            throw new ProofException("the log of " + newSize + " entries does not contain the log of " + oldSize
                    + " entries with that root: entries were changed or removed");
        }
        if (!MessageDigest.isEqual(sr, newRoot)) {
            throw new ProofException("consistency proof does not lead to the root of the log of " + newSize);
        }
    }

    private void checkSize(long size) {
        if (size < 0 || size > count) {
            throw new IllegalArgumentException("the tree has " + count + " leaves, not " + size);
        }
    }

    private static void checkHashes(List<byte[]> proof) throws ProofException {
        if (proof.size() > 2 * 64) {
            throw new ProofException("proof of " + proof.size() + " hashes is longer than any tree needs");
        }
        for (byte[] h : proof) {
            if (h == null || h.length != HASH) {
                throw new ProofException("proof holds a hash that is not " + HASH + " bytes");
            }
        }
    }

    private static List<byte[]> copies(List<byte[]> hashes) {
        return hashes.stream().map(byte[]::clone).toList();
    }

    /** Largest power of two strictly below {@code n} (n >= 2). */
    private static long split(long n) {
        return Long.highestOneBit(n - 1);
    }

    /** The root of leaves {@code [lo, lo + n)}. */
    private byte[] subtree(long lo, long n) {
        if (n == 1) {
            int at = (int) (lo % CHUNK_LEAVES) * HASH;
            return java.util.Arrays.copyOfRange(chunks.get((int) (lo / CHUNK_LEAVES)), at, at + HASH);
        }
        boolean memoize = n >= MEMO_MIN && Long.bitCount(n) == 1 && lo % n == 0;
        Long key = memoize ? lo * 64 + Long.numberOfTrailingZeros(n) : null;
        if (memoize) {
            byte[] m = memo.get(key);
            if (m != null) {
                return m;
            }
        }
        long k = split(n);
        byte[] h = node(subtree(lo, k), subtree(lo + k, n - k));
        if (memoize) {
            memo.put(key, h);
        }
        return h;
    }

    private void path(long m, long lo, long n, List<byte[]> out) {
        if (n <= 1) {
            return;
        }
        long k = split(n);
        if (m < k) {
            path(m, lo, k, out);
            out.add(subtree(lo + k, n - k));
        } else {
            path(m - k, lo + k, n - k, out);
            out.add(subtree(lo, k));
        }
    }

    private void subproof(long m, long lo, long n, boolean whole, List<byte[]> out) {
        if (m == n) {
            if (!whole) {
                out.add(subtree(lo, n));
            }
            return;
        }
        long k = split(n);
        if (m <= k) {
            subproof(m, lo, k, whole, out);
            out.add(subtree(lo + k, n - k));
        } else {
            subproof(m - k, lo + k, n - k, false, out);
            out.add(subtree(lo, k));
        }
    }

    private static byte[] node(byte[] left, byte[] right) {
        MessageDigest d = sha256();
        d.update((byte) 1);
        d.update(left);
        return d.digest(right);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
