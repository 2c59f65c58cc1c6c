package dev.cloister.pf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The random-access engine behind {@link PfChannel}: reads and writes plaintext at any offset of an encrypted file,
 * keeping at most {@link #MAX_CACHED} decrypted nodes in an LRU (like Gramine's cache), and re-encrypting what
 * changed on {@link #flush()} in Gramine's order: data nodes, MHT nodes children first, root, metadata last.
 *
 * <p>Invariant between operations: a dirty node's MHT ancestors are dirty and cached, and only clean nodes are
 * evicted (a full cache of dirty nodes is flushed first).
 */
final class PfFile {
    static final int MAX_CACHED = 48;

    private static final class Node {
        final boolean mht;
        final long number;
        final byte[] plain = new byte[Layout.NODE];
        boolean dirty;

        Node(boolean mht, long number) {
            this.mht = mht;
            this.number = number;
        }
    }

    private final FileChannel ch;
    private final String name;
    private final byte[] kdk;
    /**
     * The JDK engine until {@link Crypto#BULK_MIN_NODES} nodes have been through it, then the bulk engine: opening a file,
     * inspecting it or patching a few nodes should not pay the bulk engine's start-up (see {@link Crypto.Engine}).
     */
    private Crypto crypto;
    private long lightNodes;
    private final Crypto.KeySource keys;
    private final MetadataNode md;
    private final boolean writable;
    private final LinkedHashMap<Long, Node> cache = new LinkedHashMap<>(64, 0.75f, true);
    private final byte[] io = new byte[Layout.NODE + Layout.TAG]; // a node plus room for its tag
    private Node root;
    private long size;
    private boolean dirty;

    private PfFile(FileChannel ch, String name, byte[] kdk, Crypto.KeySource keys, MetadataNode md, boolean writable) {
        this.ch = ch;
        this.name = name;
        this.kdk = kdk;
        this.keys = keys;
        this.md = md;
        this.writable = writable;
        this.size = md.size();
    }

    /** Opens an existing encrypted file. */
    static PfFile open(FileChannel ch, String name, PfKey key, PathPolicy policy, boolean writable, Crypto.KeySource keys)
            throws IOException, PfException {
        long host = ch.size();
        if (host < Layout.NODE || host % Layout.NODE != 0) {
            throw new PfException(PfException.Reason.BAD_SIZE,
                    name + " is " + host + " bytes; an encrypted file is a positive multiple of 4096 bytes");
        }
        byte[] node0 = new byte[Layout.NODE];
        readFully(ch, node0, 0, name);
        byte[] kdk = key.raw().clone();
        Crypto light = Crypto.forNodes(0);
        MetadataNode md = MetadataNode.decode(node0, kdk, light, name);
        policy.check(md, name);
        long expected = Layout.hostSize(md.size());
        if (host < expected) {
            throw new PfException(PfException.Reason.TRUNCATED, name + " is truncated: " + host
                    + " bytes, but its plaintext size " + md.size() + " needs " + expected);
        }
        if (host > expected) {
            throw new PfException(PfException.Reason.BAD_SIZE, name + " has " + (host - expected) / Layout.NODE
                    + " node(s) beyond what its plaintext size " + md.size() + " needs (extended or spliced file)");
        }
        PfFile f = new PfFile(ch, name, kdk, keys, md, writable);
        f.crypto = light;
        if (f.size > Layout.MD_DATA) {
            f.root = new Node(true, 0);
            f.decryptNode(Layout.physicalOfMht(0), md.plain, MetadataNode.rootEntryOffset(), f.root.plain, "root MHT node", -1);
        }
        return f;
    }

    /** Starts a new, empty encrypted file bound to {@code path}. */
    static PfFile create(FileChannel ch, String name, PfKey key, String path, PfVersion version, Crypto.KeySource keys)
            throws PfException {
        MetadataNode md = MetadataNode.create(version, path);
        PfFile f = new PfFile(ch, name, key.raw().clone(), keys, md, true);
        f.dirty = true;
        return f;
    }

    long size() {
        return size;
    }

    private Crypto crypto() {
        if (crypto == null) {
            crypto = Crypto.forNodes(0);
        }
        if (lightNodes <= Crypto.BULK_MIN_NODES && ++lightNodes > Crypto.BULK_MIN_NODES) {
            crypto = Crypto.forNodes(lightNodes);
        }
        return crypto;
    }

    MetadataNode metadata() {
        return md;
    }

    // ---- reading

    int read(long pos, byte[] dst, int off, int len) throws IOException, PfException {
        if (pos >= size || len == 0) {
            return pos >= size && len > 0 ? -1 : 0;
        }
        int n = (int) Math.min(len, size - pos);
        int done = 0;
        while (done < n) {
            long p = pos + done;
            int chunk;
            if (p < Layout.MD_DATA) {
                chunk = (int) Math.min(n - done, Layout.MD_DATA - p);
                System.arraycopy(md.plain, MetadataNode.OFF_DATA + (int) p, dst, off + done, chunk);
            } else {
                long d = (p - Layout.MD_DATA) / Layout.NODE;
                int in = (int) ((p - Layout.MD_DATA) % Layout.NODE);
                chunk = Math.min(n - done, Layout.NODE - in);
                System.arraycopy(data(d).plain, in, dst, off + done, chunk);
            }
            done += chunk;
            trim();
        }
        return n;
    }

    // ---- writing

    void write(long pos, byte[] src, int off, int len) throws IOException, PfException {
        checkWritable();
        if (pos > Layout.MAX_SIZE - len) {
            throw new PfException(PfException.Reason.BAD_ARGUMENT, "write beyond the maximum file size");
        }
        if (pos > size) {
            zeroFill(size, pos);
        }
        writeInternal(pos, src, off, len);
    }

    private void zeroFill(long from, long to) throws IOException, PfException {
        byte[] zeros = new byte[Layout.NODE];
        for (long p = from; p < to; ) {
            int n = (int) Math.min(zeros.length, to - p);
            writeInternal(p, zeros, 0, n);
            p += n;
        }
    }

    private void writeInternal(long pos, byte[] src, int off, int len) throws IOException, PfException {
        int done = 0;
        while (done < len) {
            long p = pos + done;
            int chunk;
            if (p < Layout.MD_DATA) {
                chunk = (int) Math.min(len - done, Layout.MD_DATA - p);
                System.arraycopy(src, off + done, md.plain, MetadataNode.OFF_DATA + (int) p, chunk);
            } else {
                long d = (p - Layout.MD_DATA) / Layout.NODE;
                int in = (int) ((p - Layout.MD_DATA) % Layout.NODE);
                chunk = Math.min(len - done, Layout.NODE - in);
                Node node = data(d);
                System.arraycopy(src, off + done, node.plain, in, chunk);
                node.dirty = true;
                markAncestors(d);
            }
            dirty = true;
            done += chunk;
            size = Math.max(size, p + chunk);
            trim();
        }
    }

    void truncate(long newSize) throws IOException, PfException {
        checkWritable();
        if (newSize >= size) {
            if (newSize > size) {
                zeroFill(size, newSize);
            }
            return;
        }
        // Forget every node wholly beyond the new end; zero the tail of the boundary node so that a later
        // extension reads zeros, as Gramine's pf_set_size does.
        cache.values().removeIf(n -> n.mht ? Layout.dataStart(n.number * Layout.DATA_PER_MHT) >= newSize
                : Layout.dataStart(n.number) >= newSize);
        if (newSize <= Layout.MD_DATA) {
            Arrays.fill(md.plain, MetadataNode.OFF_DATA + (int) newSize, MetadataNode.OFF_DATA + Layout.MD_DATA, (byte) 0);
            if (root != null) {
                Arrays.fill(root.plain, (byte) 0);
            }
            root = null;
            cache.clear();
        } else {
            int in = (int) ((newSize - Layout.MD_DATA) % Layout.NODE);
            if (in != 0) {
                long d = (newSize - Layout.MD_DATA) / Layout.NODE;
                Node node = data(d);
                Arrays.fill(node.plain, in, Layout.NODE, (byte) 0);
                node.dirty = true;
                markAncestors(d);
            }
        }
        size = newSize;
        dirty = true;
        trim();
    }

    // ---- nodes

    private static long cacheKey(boolean mht, long n) {
        return mht ? n * 2 + 1 : n * 2;
    }

    private Node data(long d) throws IOException, PfException {
        Node n = cache.get(cacheKey(false, d));
        if (n != null) {
            return n;
        }
        Node parent = mht(d / Layout.DATA_PER_MHT);
        n = new Node(false, d);
        if (Layout.dataStart(d) < size) {
            decryptNode(Layout.physicalOfData(d), parent.plain, Layout.dataSlotOffset(d), n.plain, "data node ", d);
        }
        cache.put(cacheKey(false, d), n);
        return n;
    }

    private Node mht(long m) throws IOException, PfException {
        if (m == 0) {
            if (root == null) {
                root = new Node(true, 0); // the file just grew past 3072 bytes
            }
            return root;
        }
        Node n = cache.get(cacheKey(true, m));
        if (n != null) {
            return n;
        }
        Node parent = mht(Layout.parentOf(m));
        n = new Node(true, m);
        if (Layout.dataStart(m * Layout.DATA_PER_MHT) < size) {
            decryptNode(Layout.physicalOfMht(m), parent.plain, Layout.childSlotOffset(m), n.plain, "MHT node ", m);
        }
        cache.put(cacheKey(true, m), n);
        return n;
    }

    private void markAncestors(long d) throws IOException, PfException {
        for (long m = d / Layout.DATA_PER_MHT; ; m = Layout.parentOf(m)) {
            mht(m).dirty = true;
            if (m == 0) {
                return;
            }
        }
    }

    /** {@code kind} and {@code number} name the node in errors ({@code number < 0}: just the kind). */
    private void decryptNode(long phys, byte[] entries, int entryOff, byte[] out, String kind, long number)
            throws IOException, PfException {
        long pos = phys * Layout.NODE;
        if (pos + Layout.NODE > ch.size()) {
            throw new PfException(PfException.Reason.TRUNCATED, name + " is truncated: " + name(kind, number)
                    + " (physical node " + phys + ") is missing");
        }
        readFully(ch, io, 0, Layout.NODE, pos, name);
        if (!crypto().decryptTagAfter(entries, entryOff, io, 0, Layout.NODE, entries, entryOff + Layout.KEY, out, 0)) {
            throw new PfException(PfException.Reason.AUTHENTICATION_FAILED, name(kind, number) + " (physical node " + phys + ") of "
                    + name + " failed authentication: the file was tampered with, or nodes were swapped");
        }
    }

    private static String name(String kind, long number) {
        return number < 0 ? kind : kind + number;
    }

    /** Keeps the cache bounded: flushes if a dirty node would have to go, then evicts least recently used. */
    private void trim() throws IOException, PfException {
        if (cache.size() <= MAX_CACHED) {
            return;
        }
        for (Node n : cache.values()) {
            if (n.dirty) {
                flush();
                break;
            }
        }
        Iterator<Map.Entry<Long, Node>> it = cache.entrySet().iterator();
        while (cache.size() > MAX_CACHED && it.hasNext()) {
            Node n = it.next().getValue();
            Arrays.fill(n.plain, (byte) 0);
            it.remove();
        }
    }

    /** Re-encrypts everything that changed, with fresh keys, and writes it; metadata last. */
    void flush() throws IOException, PfException {
        if (!dirty || !writable) {
            return;
        }
        byte[] key = new byte[Layout.KEY];
        try {
            if (size > Layout.MD_DATA) {
                // Snapshot first: lookups in an access-ordered map reorder it.
                List<Node> datas = new ArrayList<>();
                List<Node> mhts = new ArrayList<>();
                Map<Long, Node> mhtIndex = new java.util.HashMap<>();
                mhtIndex.put(0L, root);
                for (Node n : cache.values()) {
                    if (n.mht) {
                        mhtIndex.put(n.number, n);
                    }
                    if (n.dirty) {
                        (n.mht ? mhts : datas).add(n);
                    }
                }
                for (Node n : datas) {
                    keys.dataKey(n.number, key);
                    Node parent = present(mhtIndex, n.number / Layout.DATA_PER_MHT);
                    sealNode(n, key, Layout.physicalOfData(n.number), parent.plain, Layout.dataSlotOffset(n.number));
                }
                mhts.sort((a, b) -> Long.compare(b.number, a.number)); // children before parents
                for (Node n : mhts) {
                    keys.mhtKey(n.number, key);
                    Node parent = present(mhtIndex, Layout.parentOf(n.number));
                    sealNode(n, key, Layout.physicalOfMht(n.number), parent.plain, Layout.childSlotOffset(n.number));
                }
                if (root != null && root.dirty) {
                    keys.mhtKey(0, key);
                    sealNode(root, key, 1, md.plain, MetadataNode.rootEntryOffset());
                }
            }
            md.setSize(size);
            byte[] nonce = new byte[Layout.NONCE];
            keys.nonce(nonce);
            byte[] node0 = md.encode(kdk, nonce, crypto());
            writeFully(ch, node0, 0);
            long host = Layout.hostSize(size);
            if (ch.size() > host) {
                ch.truncate(host);
            }
            dirty = false;
        } finally {
            Arrays.fill(key, (byte) 0);
        }
    }

    private static Node present(Map<Long, Node> index, long m) {
        Node n = index.get(m);
        if (n == null) {
            throw new IllegalStateException("MHT node " + m + " of a dirty node is not cached");
        }
        return n;
    }

    private void sealNode(Node n, byte[] key, long phys, byte[] entries, int entryOff) throws IOException {
        crypto().encryptSpill(key, n.plain, 0, Layout.NODE, io, 0, entries, entryOff + Layout.KEY);
        System.arraycopy(key, 0, entries, entryOff, Layout.KEY);
        writeFully(ch, io, 0, Layout.NODE, phys * Layout.NODE);
        n.dirty = false;
    }

    void close() throws IOException, PfException {
        try {
            flush();
            if (writable) {
                ch.force(true);
            }
        } finally {
            wipe();
        }
    }

    /** Forgets all plaintext and key material without writing anything. */
    void wipe() {
        cache.values().forEach(n -> Arrays.fill(n.plain, (byte) 0));
        cache.clear();
        if (root != null) {
            Arrays.fill(root.plain, (byte) 0);
        }
        md.wipe();
        if (keys != null) {
            keys.wipe();
        }
        Arrays.fill(kdk, (byte) 0);
        Arrays.fill(io, (byte) 0);
    }

    private void checkWritable() throws PfException {
        if (!writable) {
            throw new PfException(PfException.Reason.BAD_ARGUMENT, name + " is open for reading only");
        }
    }

    static void readFully(FileChannel ch, byte[] dst, long pos, String name) throws IOException, PfException {
        readFully(ch, dst, 0, dst.length, pos, name);
    }

    static void readFully(FileChannel ch, byte[] dst, int off, int len, long pos, String name)
            throws IOException, PfException {
        ByteBuffer b = ByteBuffer.wrap(dst, off, len);
        while (b.hasRemaining()) {
            int n = ch.read(b, pos + (b.position() - off));
            if (n < 0) {
                throw new PfException(PfException.Reason.TRUNCATED,
                        name + " ends unexpectedly at byte " + (pos + b.position() - off));
            }
        }
    }

    static void writeFully(FileChannel ch, byte[] src, long pos) throws IOException {
        writeFully(ch, src, 0, src.length, pos);
    }

    static void writeFully(FileChannel ch, byte[] src, int off, int len, long pos) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(src, off, len);
        while (b.hasRemaining()) {
            ch.write(b, pos + (b.position() - off));
        }
    }
}
