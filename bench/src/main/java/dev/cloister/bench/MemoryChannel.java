package dev.cloister.bench;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

/**
 * A {@link FileChannel} over a byte array of fixed capacity: lets the benchmarks time the encrypted-files library
 * without the kernel (no system calls, no page cache), so the library's own cost can be told apart from tmpfs's.
 * Reading and writing still copy, as any source or destination of the bytes would. Only what the library calls
 * is implemented; mapping and locking are refused.
 */
final class MemoryChannel extends FileChannel {
    final byte[] data;
    private long size;
    private long position;

    MemoryChannel(byte[] data, long size) {
        this.data = data;
        this.size = size;
    }

    @Override
    public int read(ByteBuffer dst) {
        int n = read(dst, position);
        if (n > 0) {
            position += n;
        }
        return n;
    }

    @Override
    public long read(ByteBuffer[] dsts, int offset, int length) {
        long total = 0;
        for (int i = offset; i < offset + length; i++) {
            int n = read(dsts[i]);
            if (n < 0) {
                return total == 0 ? -1 : total;
            }
            total += n;
            if (dsts[i].hasRemaining()) {
                break;
            }
        }
        return total;
    }

    @Override
    public int write(ByteBuffer src) {
        int n = write(src, position);
        position += n;
        return n;
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) {
        long total = 0;
        for (int i = offset; i < offset + length; i++) {
            total += write(srcs[i]);
        }
        return total;
    }

    @Override
    public long position() {
        return position;
    }

    @Override
    public FileChannel position(long newPosition) {
        position = newPosition;
        return this;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public FileChannel truncate(long newSize) {
        size = Math.min(size, newSize);
        position = Math.min(position, newSize);
        return this;
    }

    @Override
    public void force(boolean metaData) {}

    @Override
    public long transferTo(long pos, long count, WritableByteChannel target) throws IOException {
        throw new UnsupportedOperationException();
    }

    @Override
    public long transferFrom(ReadableByteChannel src, long pos, long count) throws IOException {
        throw new UnsupportedOperationException();
    }

    @Override
    public int read(ByteBuffer dst, long pos) {
        if (pos >= size) {
            return dst.hasRemaining() ? -1 : 0;
        }
        int n = (int) Math.min(dst.remaining(), size - pos);
        dst.put(data, (int) pos, n);
        return n;
    }

    @Override
    public int write(ByteBuffer src, long pos) {
        int n = src.remaining();
        if (pos + n > data.length) {
            throw new IllegalStateException("MemoryChannel full: " + (pos + n) + " > " + data.length);
        }
        src.get(data, (int) pos, n);
        size = Math.max(size, pos + n);
        return n;
    }

    @Override
    public MappedByteBuffer map(MapMode mode, long pos, long sz) {
        throw new UnsupportedOperationException();
    }

    @Override
    public FileLock lock(long pos, long sz, boolean shared) {
        throw new UnsupportedOperationException();
    }

    @Override
    public FileLock tryLock(long pos, long sz, boolean shared) {
        throw new UnsupportedOperationException();
    }

    @Override
    protected void implCloseChannel() {}
}
