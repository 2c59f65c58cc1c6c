package dev.cloister.pf;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.SeekableByteChannel;

/**
 * An encrypted file as a {@link SeekableByteChannel} over its plaintext: read, write, append and truncate at
 * any position. Changes reach the host file on {@link #flush()} and {@link #close()} (also when more changed
 * nodes are pending than the 48-node cache holds), each time with fresh node keys.
 *
 * <p>Failures of authentication surface from {@code read} and {@code write} as an {@link IOException} whose
 * cause is the {@link PfException} naming the node.
 */
public final class PfChannel implements SeekableByteChannel {
    private final PfFile file;
    private final FileChannel host;
    private final boolean append;
    private long position;
    private boolean open = true;

    PfChannel(PfFile file, FileChannel host, boolean append) {
        this.file = file;
        this.host = host;
        this.append = append;
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        ensureOpen();
        int len = dst.remaining();
        byte[] tmp = dst.hasArray() ? dst.array() : new byte[len];
        int off = dst.hasArray() ? dst.arrayOffset() + dst.position() : 0;
        int n = call(() -> file.read(position, tmp, off, len));
        if (n > 0) {
            if (dst.hasArray()) {
                dst.position(dst.position() + n);
            } else {
                dst.put(tmp, 0, n);
                java.util.Arrays.fill(tmp, (byte) 0);
            }
            position += n;
        }
        return n;
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        ensureOpen();
        if (append) {
            position = file.size();
        }
        int len = src.remaining();
        byte[] tmp;
        int off;
        if (src.hasArray()) {
            tmp = src.array();
            off = src.arrayOffset() + src.position();
        } else {
            tmp = new byte[len];
            src.duplicate().get(tmp);
            off = 0;
        }
        long at = position;
        call(() -> {
            file.write(at, tmp, off, len);
            return len;
        });
        src.position(src.position() + len);
        position += len;
        return len;
    }

    @Override
    public long position() throws IOException {
        ensureOpen();
        return position;
    }

    @Override
    public PfChannel position(long newPosition) throws IOException {
        ensureOpen();
        if (newPosition < 0) {
            throw new IllegalArgumentException("negative position");
        }
        position = newPosition;
        return this;
    }

    @Override
    public long size() throws IOException {
        ensureOpen();
        return file.size();
    }

    @Override
    public PfChannel truncate(long size) throws IOException {
        ensureOpen();
        if (size < 0) {
            throw new IllegalArgumentException("negative size");
        }
        if (size < file.size()) {
            call(() -> {
                file.truncate(size);
                return 0;
            });
        }
        position = Math.min(position, size);
        return this;
    }

    /** Writes all pending changes to the host file (without forcing them to the device). */
    public void flush() throws IOException {
        ensureOpen();
        call(() -> {
            file.flush();
            return 0;
        });
    }

    /** The path the file is bound to. */
    public String embeddedPath() {
        return file.metadata().path();
    }

    @Override
    public boolean isOpen() {
        return open;
    }

    @Override
    public void close() throws IOException {
        if (!open) {
            return;
        }
        open = false;
        try (host) {
            call(() -> {
                file.close();
                return 0;
            });
        }
    }

    private void ensureOpen() throws ClosedChannelException {
        if (!open) {
            throw new ClosedChannelException();
        }
    }

    private interface Op {
        int run() throws IOException, PfException;
    }

    private static int call(Op op) throws IOException {
        try {
            return op.run();
        } catch (PfException e) {
            throw new IOException(e.getMessage(), e);
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }
}
