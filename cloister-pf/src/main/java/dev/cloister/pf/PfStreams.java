package dev.cloister.pf;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.LongConsumer;

/**
 * The fast paths: encrypt a whole plaintext stream into a new file, and decrypt a whole file into a stream, each
 * in one sequential pass over the data with bounded memory.
 *
 * <p>Both work in rounds of {@link #BATCH} data nodes: read, encrypt or decrypt, write. An MHT node's own key
 * lives in its parent, and its children come much later in the file, so when encrypting, each MHT node's
 * data-node entries are first parked in the MHT node's place, encrypted with a one-time AES-CTR key, and a second
 * pass over the MHT nodes only (1/97 of the file) seals them children first. Memory stays at a few 64 KiB
 * buffers whatever the size.
 */
final class PfStreams {
    private static final int SLOT = Layout.NODE + Layout.TAG;
    /**
     * Data nodes per read-crypt-write round. 64 KiB in and out stay in the core's L2 cache across rounds; whole
     * 388 KiB MHT blocks did not, and on a busy machine the cache misses cost more than the extra system calls.
     */
    private static final int BATCH = 16;

    private PfStreams() {}

    /** Where plaintext comes from: fills {@code len} bytes unless the input ends first; returns the count. */
    @FunctionalInterface
    interface Source {
        int readFully(byte[] buf, int off, int len) throws IOException;

        static Source of(InputStream in) {
            return in::readNBytes;
        }

        /**
         * Reads a channel straight into the caller's array. Skipping the InputStream layer matters to a short
         * command-line run more than to a long one: the JIT compiles far less code before it runs at full speed.
         */
        static Source of(ReadableByteChannel ch) {
            return (buf, off, len) -> {
                ByteBuffer bb = ByteBuffer.wrap(buf, off, len);
                while (bb.hasRemaining()) {
                    if (ch.read(bb) < 0) {
                        break;
                    }
                }
                return bb.position() - off;
            };
        }
    }

    /** Where plaintext goes. */
    @FunctionalInterface
    interface Sink {
        void write(byte[] buf, int off, int len) throws IOException;

        static Sink of(OutputStream out) {
            return out::write;
        }

        static Sink of(WritableByteChannel ch) {
            return (buf, off, len) -> {
                ByteBuffer bb = ByteBuffer.wrap(buf, off, len);
                while (bb.hasRemaining()) {
                    ch.write(bb);
                }
            };
        }
    }

    static PfInfo encrypt(Source in, FileChannel out, PfKey key, String path, PfVersion version,
            Crypto.KeySource keys, LongConsumer progress) throws IOException, PfException {
        // The JDK engine until the input turns out to be large enough for the bulk engine to pay off.
        Crypto crypto = Crypto.forNodes(0);
        MetadataNode md = MetadataNode.create(version, path);
        byte[] kdk = key.raw().clone();
        byte[] plain = new byte[BATCH * Layout.NODE];
        byte[] enc = new byte[BATCH * Layout.NODE + Layout.TAG]; // + the last node's tag spill
        byte[] mhtNode = new byte[Layout.NODE];
        byte[] nodeKey = new byte[Layout.KEY];
        Parking parking = new Parking(out);
        try {
            int first = in.readFully(md.plain, MetadataNode.OFF_DATA, Layout.MD_DATA);
            long size = first;
            progress.accept(first);
            long mhtCount = 0;
            boolean end = first < Layout.MD_DATA;
            for (long m = 0; !end; m++) {
                Arrays.fill(mhtNode, (byte) 0);
                int done = 0; // data nodes of this MHT node written so far
                while (done < Layout.DATA_PER_MHT) {
                    int want = Math.min(BATCH, Layout.DATA_PER_MHT - done) * Layout.NODE;
                    int n = in.readFully(plain, 0, want);
                    if (n == 0) {
                        end = true;
                        break;
                    }
                    int nodes = (n + Layout.NODE - 1) / Layout.NODE;
                    Arrays.fill(plain, n, nodes * Layout.NODE, (byte) 0);
                    long d0 = m * Layout.DATA_PER_MHT + done;
                    if (d0 <= Crypto.BULK_MIN_NODES && d0 + nodes > Crypto.BULK_MIN_NODES) {
                        crypto = Crypto.forNodes(d0 + nodes);
                    }
                    encryptNodes(crypto, keys, plain, nodes, d0, mhtNode, nodeKey, enc, out);
                    done += nodes;
                    size += n;
                    progress.accept(n);
                    if (n < want) {
                        end = true;
                        break;
                    }
                }
                if (done == 0) {
                    break;
                }
                parking.park(m, mhtNode);
                PfFile.writeFully(out, mhtNode, 0, Layout.NODE, Layout.physicalOfMht(m) * Layout.NODE);
                mhtCount = m + 1;
            }
            if (size > Layout.MAX_SIZE) {
                throw new PfException(PfException.Reason.BAD_ARGUMENT, "plaintext too large");
            }
            return finish(out, md, kdk, size, mhtCount, crypto, keys, parking, version, path);
        } finally {
            Arrays.fill(kdk, (byte) 0);
            Arrays.fill(plain, (byte) 0);
            Arrays.fill(mhtNode, (byte) 0);
            Arrays.fill(nodeKey, (byte) 0);
            md.wipe();
            keys.wipe();
            parking.close();
        }
    }

    /**
     * The end of both encryption paths, once every data node and parked MHT node is written: seals the MHT nodes
     * children first, then writes the metadata node with the size and the root's key, and trims the file.
     */
    private static PfInfo finish(FileChannel out, MetadataNode md, byte[] kdk, long size, long mhtCount, Crypto crypto,
            Crypto.KeySource keys, Parking parking, PfVersion version, String path) throws IOException, PfException {
        if (mhtCount > 0) {
            seal(0, mhtCount, out, crypto, keys, parking, md.plain, MetadataNode.rootEntryOffset());
        }
        md.setSize(size);
        byte[] nonce = new byte[Layout.NONCE];
        keys.nonce(nonce);
        PfFile.writeFully(out, md.encode(kdk, nonce, crypto), 0);
        out.truncate(Layout.hostSize(size));
        return PfInfo.of(version, path, size);
    }

    /**
     * Encrypts {@code nodes} consecutive data nodes from {@code plain}, the first being data node {@code d0}, into
     * {@code enc} and writes them to their places in {@code out}; each node's key and tag go to its entry in its
     * MHT node's plaintext {@code mhtNode}.
     */
    private static void encryptNodes(Crypto crypto, Crypto.KeySource keys, byte[] plain, int nodes, long d0,
            byte[] mhtNode, byte[] nodeKey, byte[] enc, FileChannel out) throws IOException {
        for (int i = 0; i < nodes; i++) {
            int entry = Layout.dataSlotOffset(d0 + i);
            keys.dataKey(d0 + i, nodeKey);
            crypto.encryptSpill(nodeKey, plain, i * Layout.NODE, Layout.NODE, enc, i * Layout.NODE, mhtNode,
                    entry + Layout.KEY);
            System.arraycopy(nodeKey, 0, mhtNode, entry, Layout.KEY);
        }
        PfFile.writeFully(out, enc, 0, nodes * Layout.NODE, Layout.physicalOfData(d0) * Layout.NODE);
    }

    /**
     * Encrypts the rest of file {@code in} (from its position to its end) on {@code threads} threads, each taking
     * whole MHT groups (96 data nodes, 384 KiB) in turn: reads and writes are positional, so the kernel's share of
     * the work (reading the input, allocating the output's pages) is spread over the cores as well as the
     * cipher's. The MHT nodes are then sealed as in {@link #encrypt}. With the same {@code keySources} the bytes
     * are exactly those {@link #encrypt} writes. A file that changes size meanwhile is an error.
     *
     * @param keySources a fresh, unshared key source for each thread (node keys are drawn by node number)
     */
    static PfInfo encryptParallel(FileChannel in, FileChannel out, PfKey key, String path, PfVersion version,
            java.util.function.Supplier<Crypto.KeySource> keySources, int threads, LongConsumer progress)
            throws IOException, PfException {
        long base = in.position();
        long size = in.size() - base;
        if (size > Layout.MAX_SIZE) {
            throw new PfException(PfException.Reason.BAD_ARGUMENT, "plaintext too large");
        }
        long dataNodes = Layout.dataNodes(size);
        long mhtCount = Layout.mhtNodes(dataNodes);
        Crypto crypto = Crypto.forNodes(dataNodes);
        MetadataNode md = MetadataNode.create(version, path);
        byte[] kdk = key.raw().clone();
        Crypto.KeySource keys = keySources.get();
        Parking parking = new Parking(out);
        try {
            int first = (int) Math.min(size, Layout.MD_DATA);
            readInput(in, md.plain, MetadataNode.OFF_DATA, first, base);
            progress.accept(first);
            java.util.concurrent.atomic.AtomicLong next = new java.util.concurrent.atomic.AtomicLong();
            onThreads((int) Math.min(threads, mhtCount), stopped -> {
                Crypto c = Crypto.forNodes(dataNodes);
                Crypto.KeySource k = keySources.get();
                byte[] plain = new byte[BATCH * Layout.NODE];
                byte[] enc = new byte[BATCH * Layout.NODE + Layout.TAG];
                byte[] mhtNode = new byte[Layout.NODE];
                byte[] nodeKey = new byte[Layout.KEY];
                try {
                    for (long m = next.getAndIncrement(); m < mhtCount && !stopped.getAsBoolean();
                            m = next.getAndIncrement()) {
                        Arrays.fill(mhtNode, (byte) 0);
                        int nodes = (int) Math.min(Layout.DATA_PER_MHT, dataNodes - m * Layout.DATA_PER_MHT);
                        for (int done = 0; done < nodes; ) {
                            int count = Math.min(BATCH, nodes - done);
                            long d0 = m * Layout.DATA_PER_MHT + done;
                            int n = (int) Math.min((long) count * Layout.NODE, size - Layout.dataStart(d0));
                            readInput(in, plain, 0, n, base + Layout.dataStart(d0));
                            Arrays.fill(plain, n, count * Layout.NODE, (byte) 0);
                            encryptNodes(c, k, plain, count, d0, mhtNode, nodeKey, enc, out);
                            progress.accept(n);
                            done += count;
                        }
                        parking.park(m, mhtNode);
                        PfFile.writeFully(out, mhtNode, 0, Layout.NODE, Layout.physicalOfMht(m) * Layout.NODE);
                    }
                } finally {
                    Arrays.fill(plain, (byte) 0);
                    Arrays.fill(mhtNode, (byte) 0);
                    Arrays.fill(nodeKey, (byte) 0);
                    k.wipe();
                }
            });
            if (in.size() - base != size) {
                throw new PfException(PfException.Reason.BAD_ARGUMENT, "the input changed size while it was being"
                        + " encrypted (" + size + " bytes at the start, " + (in.size() - base) + " at the end)");
            }
            in.position(base + size); // consumed, as the single-threaded path leaves it
            return finish(out, md, kdk, size, mhtCount, crypto, keys, parking, version, path);
        } finally {
            Arrays.fill(kdk, (byte) 0);
            md.wipe();
            keys.wipe();
            parking.close();
        }
    }

    /** Reads exactly {@code len} plaintext bytes at {@code pos}; a file that ends sooner has shrunk. */
    private static void readInput(FileChannel in, byte[] buf, int off, int len, long pos) throws IOException,
            PfException {
        ByteBuffer b = ByteBuffer.wrap(buf, off, len);
        while (b.hasRemaining()) {
            if (in.read(b, pos + (b.position() - off)) < 0) {
                throw new PfException(PfException.Reason.BAD_ARGUMENT, "the input shrank while it was being"
                        + " encrypted (it ends at byte " + (pos + b.position() - off) + ")");
            }
        }
    }

    /** Work for {@link #onThreads}: told whether another thread has failed, so that it can stop early. */
    @FunctionalInterface
    private interface Work {
        void run(java.util.function.BooleanSupplier stopped) throws IOException, PfException;
    }

    /**
     * Runs {@code work} on the calling thread and {@code threads - 1} more, and returns when all have finished;
     * the first failure is rethrown (the others see {@code stopped} and end at their next MHT group).
     */
    private static void onThreads(int threads, Work work) throws IOException, PfException {
        java.util.concurrent.atomic.AtomicReference<Throwable> error = new java.util.concurrent.atomic.AtomicReference<>();
        Runnable task = () -> {
            try {
                work.run(() -> error.get() != null);
            } catch (Throwable t) {
                error.compareAndSet(null, t);
            }
        };
        java.util.List<Thread> helpers = new java.util.ArrayList<>();
        for (int i = 1; i < threads; i++) {
            Thread t = new Thread(task, "cloister-pf-" + i);
            t.setDaemon(true);
            t.start();
            helpers.add(t);
        }
        task.run();
        boolean interrupted = false;
        for (Thread t : helpers) {
            while (true) {
                try {
                    t.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true; // the helpers hold this call's buffers: wait for them all the same
                    error.compareAndSet(null, new java.io.InterruptedIOException("interrupted"));
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        Throwable t = error.get();
        if (t instanceof IOException e) {
            throw e;
        } else if (t instanceof PfException e) {
            throw e;
        } else if (t instanceof RuntimeException e) {
            throw e;
        } else if (t instanceof Error e) {
            throw e;
        } else if (t != null) {
            throw new IllegalStateException(t);
        }
    }

    /** Seals MHT node m after its children (post-order), storing its key and tag at {@code entries[off]}. */
    private static void seal(long m, long count, FileChannel out, Crypto crypto, Crypto.KeySource keys,
            Parking parking, byte[] entries, int off) throws IOException, PfException {
        byte[] node = new byte[Layout.NODE];
        byte[] enc = new byte[Layout.NODE];
        byte[] key = new byte[Layout.KEY];
        long pos = Layout.physicalOfMht(m) * Layout.NODE;
        try {
            parking.unpark(m, node);
            for (long c = m * Layout.CHILDREN_PER_MHT + 1; c <= m * Layout.CHILDREN_PER_MHT + Layout.CHILDREN_PER_MHT
                    && c < count; c++) {
                seal(c, count, out, crypto, keys, parking, node, Layout.childSlotOffset(c));
            }
            keys.mhtKey(m, key);
            crypto.encrypt(key, node, 0, Layout.NODE, enc, 0, entries, off + Layout.KEY);
            System.arraycopy(key, 0, entries, off, Layout.KEY);
            PfFile.writeFully(out, enc, pos);
        } finally {
            Arrays.fill(node, (byte) 0);
            Arrays.fill(key, (byte) 0);
        }
    }

    /**
     * Hides parked MHT entries (which contain node keys) on disk between the two passes: AES-CTR under a
     * one-time random key, a distinct counter block per MHT node. No authentication is needed: a parked node
     * altered by someone else would yield keys that fail every data node's tag, never a silently wrong file.
     *
     * <p>Parked nodes live in the output itself when it is readable; a write-only output (such as the channel
     * {@code AtomicFiles} hands out) gets a scratch file in {@code java.io.tmpdir}, 1/97 of the output's size,
     * deleted when done.
     */
    private static final class Parking implements AutoCloseable {
        private final byte[] key = new byte[16];
        private final FileChannel out;
        private FileChannel scratch;
        // Two keystream generators, one to hide and one to reveal, because hiding node m and at once revealing it
        // (a file with one MHT node) would init one cipher twice in a row with the same key and IV, which both
        // engines refuse. Created on first use, when the bulk engine has been chosen.
        private Crypto.Keystream hide;
        private Crypto.Keystream reveal;

        Parking(FileChannel out) throws IOException {
            this.out = out;
            try {
                out.read(java.nio.ByteBuffer.allocate(0), 0);
            } catch (java.nio.channels.NonReadableChannelException e) {
                java.nio.file.Path tmp = java.nio.file.Files.createTempFile("cloister-pf-", ".park",
                        java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                                java.nio.file.attribute.PosixFilePermissions.fromString("rw-------")));
                scratch = FileChannel.open(tmp, java.nio.file.StandardOpenOption.READ,
                        java.nio.file.StandardOpenOption.WRITE, java.nio.file.StandardOpenOption.DELETE_ON_CLOSE);
            }
            new java.security.SecureRandom().nextBytes(key);
        }

        /** Hides {@code node} (the first 4096 bytes of the block) before it is written to the output. */
        synchronized void park(long m, byte[] node) throws IOException {
            if (hide == null) {
                hide = new Crypto.Keystream(Crypto.Engine.current());
            }
            hide.xor(key, m, node, 0, Layout.NODE);
            if (scratch != null) {
                PfFile.writeFully(scratch, node, 0, Layout.NODE, m * Layout.NODE);
            }
        }

        /** Reads back and reveals parked MHT node {@code m}. */
        void unpark(long m, byte[] node) throws IOException, PfException {
            if (scratch != null) {
                PfFile.readFully(scratch, node, m * Layout.NODE, "scratch file");
            } else {
                PfFile.readFully(out, node, Layout.physicalOfMht(m) * Layout.NODE, "output");
            }
            if (reveal == null) {
                reveal = new Crypto.Keystream(Crypto.Engine.current());
            }
            reveal.xor(key, m, node, 0, Layout.NODE);
        }

        void wipe() {
            Arrays.fill(key, (byte) 0);
        }

        @Override
        public void close() throws IOException {
            wipe();
            if (scratch != null) {
                scratch.close();
            }
        }
    }

    static PfInfo decrypt(FileChannel in, Sink out, PfKey key, PathPolicy policy, String name,
            LongConsumer progress) throws IOException, PfException {
        PfFile head = PfFile.open(in, name, key, policy, false, null);
        MetadataNode md = head.metadata();
        long size = md.size();
        PfInfo info = PfInfo.of(md.version, md.path(), size);
        Crypto crypto = Crypto.forNodes(Layout.dataNodes(size));
        // Each node read lands in its own slot with 16 spare bytes after it for the tag, so that GCM gets
        // ciphertext||tag in one piece without copying the ciphertext (a scattering read fills the slots).
        byte[] block = new byte[SLOT * BATCH];
        ByteBuffer[] slots = new ByteBuffer[BATCH];
        for (int j = 0; j < slots.length; j++) {
            slots[j] = ByteBuffer.wrap(block, j * SLOT, Layout.NODE).slice();
        }
        byte[] mhtCipher = new byte[SLOT];
        byte[] plain = new byte[BATCH * Layout.NODE];
        MhtCache mhts = new MhtCache(in, name, crypto);
        long savedPosition = in.position();
        try {
            int first = (int) Math.min(size, Layout.MD_DATA);
            out.write(md.plain, MetadataNode.OFF_DATA, first);
            progress.accept(first);
            long dataNodes = Layout.dataNodes(size);
            if (dataNodes > 0) {
                byte[] rootPlain = new byte[Layout.NODE];
                mhts.decrypt(1, md.plain, MetadataNode.rootEntryOffset(), rootPlain, "root MHT node", 0);
                mhts.put(0, rootPlain);
            }
            for (long m = 0; m * Layout.DATA_PER_MHT < dataNodes; m++) {
                int nodes = (int) Math.min(Layout.DATA_PER_MHT, dataNodes - m * Layout.DATA_PER_MHT);
                byte[] mht;
                if (m == 0) {
                    mht = mhts.get(0);
                } else {
                    mht = new byte[Layout.NODE];
                    byte[] parent = mhts.load(Layout.parentOf(m));
                    PfFile.readFully(in, mhtCipher, 0, Layout.NODE, Layout.physicalOfMht(m) * Layout.NODE, name);
                    mhts.check(crypto.decryptTagAfter(parent, Layout.childSlotOffset(m), mhtCipher, 0, Layout.NODE,
                            parent, Layout.childSlotOffset(m) + Layout.KEY, mht, 0), "MHT node ", m,
                            Layout.physicalOfMht(m));
                    mhts.put(m, mht);
                }
                for (int done = 0; done < nodes; ) {
                    int count = Math.min(BATCH, nodes - done);
                    long d0 = m * Layout.DATA_PER_MHT + done;
                    readSlots(in, slots, count, Layout.physicalOfData(d0) * Layout.NODE, name);
                    for (int i = 0; i < count; i++) {
                        int entry = (done + i) * Layout.ENTRY;
                        mhts.check(crypto.decryptTagAfter(mht, entry, block, i * SLOT, Layout.NODE, mht,
                                entry + Layout.KEY, plain, i * Layout.NODE), "data node ", d0 + i,
                                Layout.physicalOfData(d0 + i));
                    }
                    int n = (int) Math.min(size - Layout.dataStart(d0), (long) count * Layout.NODE);
                    out.write(plain, 0, n);
                    progress.accept(n);
                    done += count;
                }
            }
            return info;
        } finally {
            Arrays.fill(plain, (byte) 0);
            mhts.wipe();
            head.wipe();
            in.position(savedPosition);
        }
    }

    /**
     * Decrypts file {@code in} into {@code out} (from {@code out}'s position on) on {@code threads} threads, each
     * taking whole MHT groups in turn with positional reads and writes; each thread authenticates the MHT nodes
     * it needs along their parent chain itself. On failure {@code out} may hold the plaintext of nodes that did
     * authenticate, as with {@link #decrypt}: callers discard it.
     */
    static PfInfo decryptParallel(FileChannel in, FileChannel out, PfKey key, PathPolicy policy, String name,
            int threads, LongConsumer progress) throws IOException, PfException {
        PfFile head = PfFile.open(in, name, key, policy, false, null);
        MetadataNode md = head.metadata();
        long size = md.size();
        PfInfo info = PfInfo.of(md.version, md.path(), size);
        long dataNodes = Layout.dataNodes(size);
        long mhtCount = Layout.mhtNodes(dataNodes);
        long base = out.position();
        byte[] rootPlain = new byte[Layout.NODE];
        try {
            int first = (int) Math.min(size, Layout.MD_DATA);
            PfFile.writeFully(out, md.plain, MetadataNode.OFF_DATA, first, base);
            progress.accept(first);
            if (dataNodes > 0) {
                new MhtCache(in, name, Crypto.forNodes(dataNodes))
                        .decrypt(1, md.plain, MetadataNode.rootEntryOffset(), rootPlain, "root MHT node", 0);
            }
            java.util.concurrent.atomic.AtomicLong next = new java.util.concurrent.atomic.AtomicLong();
            onThreads((int) Math.max(1, Math.min(threads, mhtCount)), stopped -> {
                Crypto crypto = Crypto.forNodes(dataNodes);
                MhtCache mhts = new MhtCache(in, name, crypto);
                mhts.put(0, rootPlain.clone());
                byte[] cipher = new byte[BATCH * Layout.NODE];
                byte[] plain = new byte[BATCH * Layout.NODE];
                try {
                    for (long m = next.getAndIncrement(); m < mhtCount && !stopped.getAsBoolean();
                            m = next.getAndIncrement()) {
                        byte[] mht = mhts.load(m);
                        int nodes = (int) Math.min(Layout.DATA_PER_MHT, dataNodes - m * Layout.DATA_PER_MHT);
                        for (int done = 0; done < nodes; ) {
                            int count = Math.min(BATCH, nodes - done);
                            long d0 = m * Layout.DATA_PER_MHT + done;
                            PfFile.readFully(in, cipher, 0, count * Layout.NODE, Layout.physicalOfData(d0) * Layout.NODE,
                                    name);
                            for (int i = 0; i < count; i++) {
                                int entry = Layout.dataSlotOffset(d0 + i);
                                mhts.check(crypto.decrypt(mht, entry, cipher, i * Layout.NODE, Layout.NODE, mht,
                                        entry + Layout.KEY, plain, i * Layout.NODE), "data node ", d0 + i,
                                        Layout.physicalOfData(d0 + i));
                            }
                            int n = (int) Math.min(size - Layout.dataStart(d0), (long) count * Layout.NODE);
                            PfFile.writeFully(out, plain, 0, n, base + Layout.dataStart(d0));
                            progress.accept(n);
                            done += count;
                        }
                    }
                } finally {
                    Arrays.fill(plain, (byte) 0);
                    mhts.wipe();
                }
            });
            out.position(base + size);
            return info;
        } finally {
            Arrays.fill(rootPlain, (byte) 0);
            head.wipe();
        }
    }

    /** Fills the first {@code count} slots from consecutive nodes at {@code pos}, with one scattering read. */
    private static void readSlots(FileChannel in, ByteBuffer[] slots, int count, long pos, String name)
            throws IOException, PfException {
        for (int j = 0; j < count; j++) {
            slots[j].clear();
        }
        in.position(pos);
        long want = (long) count * Layout.NODE;
        long got = 0;
        while (got < want) {
            long n = in.read(slots, 0, count);
            if (n < 0) {
                throw new PfException(PfException.Reason.TRUNCATED, name + " ends unexpectedly at byte " + (pos + got));
            }
            got += n;
        }
    }

    /** A small LRU of decrypted MHT nodes; a miss reloads through the parent chain. */
    private static final class MhtCache {
        private static final int MAX = 64;
        private final FileChannel in;
        private final String name;
        private final Crypto crypto;
        private final byte[] io = new byte[Layout.NODE];
        private final LinkedHashMap<Long, byte[]> lru = new LinkedHashMap<>(MAX * 2, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Long, byte[]> e) {
                if (size() > MAX && e.getKey() != 0L) {
                    Arrays.fill(e.getValue(), (byte) 0);
                    return true;
                }
                return false;
            }
        };

        MhtCache(FileChannel in, String name, Crypto crypto) {
            this.in = in;
            this.name = name;
            this.crypto = crypto;
        }

        byte[] get(long m) {
            return lru.get(m);
        }

        void put(long m, byte[] plain) {
            lru.put(m, plain);
        }

        byte[] load(long m) throws IOException, PfException {
            byte[] p = lru.get(m);
            if (p != null) {
                return p;
            }
            byte[] parent = load(Layout.parentOf(m));
            p = new byte[Layout.NODE];
            decrypt(Layout.physicalOfMht(m), parent, Layout.childSlotOffset(m), p, "MHT node " + m, m);
            lru.put(m, p);
            return p;
        }

        void decrypt(long phys, byte[] entries, int off, byte[] out, String what, long m) throws IOException, PfException {
            PfFile.readFully(in, io, phys * Layout.NODE, name);
            decryptBytes(io, 0, entries, off, out, what, phys);
        }

        void decryptBytes(byte[] src, int srcOff, byte[] entries, int off, byte[] out, String what, long phys)
                throws PfException {
            decryptBytes(src, srcOff, entries, off, out, 0, what, phys);
        }

        void decryptBytes(byte[] src, int srcOff, byte[] entries, int off, byte[] out, int outOff, String what, long phys)
                throws PfException {
            if (!crypto.decrypt(entries, off, src, srcOff, Layout.NODE, entries, off + Layout.KEY, out, outOff)) {
                throw new PfException(PfException.Reason.AUTHENTICATION_FAILED, what + " (physical node " + phys
                        + ") of " + name + " failed authentication: the file was tampered with, or nodes were swapped");
            }
        }

        /** The message is built only on failure: this runs once per node. */
        void check(boolean authentic, String kind, long number, long phys) throws PfException {
            if (!authentic) {
                throw new PfException(PfException.Reason.AUTHENTICATION_FAILED, kind + number + " (physical node " + phys
                        + ") of " + name + " failed authentication: the file was tampered with, or nodes were swapped");
            }
        }

        void wipe() {
            lru.values().forEach(b -> Arrays.fill(b, (byte) 0));
            lru.clear();
        }
    }
}
