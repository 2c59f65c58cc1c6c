package dev.cloister.cli.pf;

import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorCompletionService;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.stream.Stream;

/**
 * Whole directory trees for encrypt and decrypt: all files are processed in parallel into a hidden directory
 * beside the target, which is renamed into place only when every file succeeded, so a failure leaves nothing.
 */
final class Trees {
    private Trees() {}

    /** One regular file of the input tree, by its path relative to the root ('/'-separated). */
    record Entry(Path source, String relative, long size) {}

    /** Processes one file: reads {@code in}, writes the new file {@code out}, returns a result for the report. */
    interface FileTask<R> {
        R run(Entry entry, Path out) throws Exception;
    }

    /** The regular files under {@code root}, sorted; symbolic links and special files are refused. */
    static List<Entry> list(Path root) throws IOException, CloisterException {
        List<Entry> entries = new ArrayList<>();
        List<Path> bad = new ArrayList<>();
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                if (attrs.isRegularFile()) {
                    entries.add(new Entry(file, relative(root, file), attrs.size()));
                } else {
                    bad.add(file);
                }
                return FileVisitResult.CONTINUE;
            }
        });
        if (!bad.isEmpty()) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, bad.get(0)
                    + " is not a regular file (symbolic links and special files are not encrypted or decrypted)");
        }
        entries.sort(Comparator.comparing(Entry::relative));
        return entries;
    }

    static String relative(Path root, Path file) {
        StringBuilder sb = new StringBuilder();
        for (Path part : root.relativize(file)) {
            if (!sb.isEmpty()) {
                sb.append('/');
            }
            sb.append(part);
        }
        return sb.toString();
    }

    /** {@code base/relative} as an embedded path, without doubling a trailing slash. */
    static String join(String base, String relative) {
        return base.endsWith("/") ? base + relative : base + "/" + relative;
    }

    /**
     * Runs {@code task} for every entry on {@code jobs} threads, writing into a fresh directory that becomes
     * {@code target} at the end. The first failure cancels the rest and is rethrown as it was.
     */
    static <R> List<R> run(List<Entry> entries, Path target, int jobs, FileTask<R> task) throws Exception {
        Path abs = target.toAbsolutePath().normalize();
        if (Files.exists(abs, LinkOption.NOFOLLOW_LINKS)) {
            throw new FileAlreadyExistsException(abs.toString(), null, "output exists; refusing to overwrite it");
        }
        Path parent = abs.getParent();
        Path tmp = Files.createTempDirectory(parent, "." + abs.getFileName() + ".",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        boolean done = false;
        ExecutorService pool = dev.cloister.core.Workers.pool(Math.min(jobs, entries.size()), "cloister-pf");
        try {
            ExecutorCompletionService<R> cs = new ExecutorCompletionService<>(pool);
            for (Entry e : entries) {
                Files.createDirectories(tmp.resolve(e.relative()).getParent());
            }
            // Largest files first, so that no thread is left alone with a big file at the end (the pool takes
            // tasks in submission order); results still come back in the sorted order of the entries.
            List<Integer> order = new ArrayList<>();
            for (int i = 0; i < entries.size(); i++) {
                order.add(i);
            }
            order.sort(Comparator.comparingLong((Integer i) -> entries.get(i).size()).reversed()
                    .thenComparing(i -> i));
            List<Future<R>> futures = new ArrayList<>(java.util.Collections.nCopies(entries.size(), null));
            for (int i : order) {
                Entry e = entries.get(i);
                Path out = tmp.resolve(e.relative());
                futures.set(i, cs.submit(() -> task.run(e, out)));
            }
            for (int i = 0; i < futures.size(); i++) {
                try {
                    cs.take().get();
                } catch (ExecutionException ex) {
                    futures.forEach(f -> f.cancel(true));
                    Throwable cause = ex.getCause();
                    if (cause instanceof Exception c) {
                        throw c;
                    }
                    throw (Error) cause;
                }
            }
            List<R> results = new ArrayList<>(futures.size());
            for (Future<R> f : futures) {
                results.add(f.get());
            }
            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE);
            done = true;
            return results;
        } finally {
            dev.cloister.core.Workers.stop(pool);
            if (!done) {
                dev.cloister.core.AtomicFiles.deleteTree(tmp);
            }
        }
    }

}
