package dev.cloister.core;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;

/**
 * Ahead-of-time class caches (JDK 25, JEP 483/514) for the short-lived JVMs Cloister starts per job and per
 * pipeline step (the step worker and the simulated enclave's launcher). Most of such a JVM's start-up is loading
 * and linking the same few thousand classes (Jackson alone is 500); a cache made from one real run of the same
 * class path cuts that by half or more.
 *
 * <p>The cache is made lazily on the machine that uses it, from real work: the first JVM of a kind that finds no
 * cache records which classes it uses ({@code -XX:AOTMode=record}, which costs that one JVM a few seconds at exit),
 * and after it exits a detached process turns the record into the cache ({@code -XX:AOTMode=create}) and moves it
 * into place atomically. Until then, and whenever anything about the cache is wrong, JVMs simply start without
 * one: a cache is only ever a speed-up. The JDK itself refuses a cache made for another JDK or class path (it
 * checks every jar's size and time); the file name also carries a digest of the JDK, the class path with each
 * jar's size and time, and the JVM options, so a rebuilt jar gets a new cache instead of a refused one.
 *
 * <p>Only a class path made entirely of jars can be cached (a test runner's class folders cannot);
 * {@link #forThisJvm()} is empty otherwise. {@code CLOISTER_AOT=off} turns caching off; {@code CLOISTER_AOT_DIR}
 * moves the cache folder (default {@code $XDG_CACHE_HOME/cloister/aot} or {@code ~/.cache/cloister/aot}).
 */
public final class AotCache {
    /** A recording older than this is assumed dead (its JVM was killed) and may be taken over. */
    private static final Duration STALE = Duration.ofMinutes(10);
    /** Suppress the JVM's own cache messages (on both outputs), which would otherwise land in job logs. */
    private static final List<String> QUIET = List.of("-Xlog:aot*=off,cds*=off", "-Xlog:aot*=off,cds*=off:stderr");

    private final Path dir;
    private final String javaBin;
    private final String classPath;

    AotCache(Path dir, String javaBin, String classPath) {
        this.dir = dir;
        this.javaBin = javaBin;
        this.classPath = classPath;
    }

    /**
     * The cache for JVMs started with this JVM's {@code java} and class path, or empty when caching is off, the JDK
     * is older than 25 or the class path holds anything but jars.
     */
    public static Optional<AotCache> forThisJvm() {
        if ("off".equalsIgnoreCase(System.getenv("CLOISTER_AOT")) || Runtime.version().feature() < 25) {
            return Optional.empty();
        }
        String cp = System.getProperty("java.class.path", "");
        if (cp.isEmpty()) {
            return Optional.empty();
        }
        for (String entry : cp.split(File.pathSeparator)) {
            if (!entry.endsWith(".jar") || !Files.isRegularFile(Path.of(entry))) {
                return Optional.empty();
            }
        }
        String override = System.getenv("CLOISTER_AOT_DIR");
        Path dir;
        if (override != null && !override.isBlank()) {
            dir = Path.of(override);
        } else {
            String xdg = System.getenv("XDG_CACHE_HOME");
            dir = (xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache"))
                    .resolve("cloister").resolve("aot");
        }
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return Optional.of(new AotCache(dir.toAbsolutePath(), java, cp));
    }

    /** The folder holding the caches. */
    public Path dir() {
        return dir;
    }

    /**
     * What to add to the command line of a JVM of kind {@code role} started with this JVM's class path and the
     * given options.
     *
     * @param role a short name for the kind of JVM ("step", "launcher"); one cache per role
     * @param jvmOptions the options the JVM is started with besides the class path (they are part of the key)
     */
    public Use use(String role, List<String> jvmOptions) {
        if (jvmOptions.stream().anyMatch(o -> o.startsWith("-Xshare") || o.contains("SharedArchiveFile")
                || o.contains("SharedClassListFile") || o.contains("DumpLoadedClassList") || o.startsWith("-XX:AOT"))) {
            return Use.NONE; // the JVM refuses to start with a cache and any of these
        }
        String name = role + "-" + key(role, jvmOptions);
        Path cache = dir.resolve(name + ".aot");
        if (Files.isRegularFile(cache)) {
            return new Use(with(QUIET, "-XX:AOTCache=" + cache), Optional.of(cache), Optional.empty());
        }
        if (Files.exists(dir.resolve(name + ".failed"))) {
            return Use.NONE;
        }
        Path lock = dir.resolve(name + ".lock");
        try {
            Files.createDirectories(dir);
            if (!takeLock(lock)) {
                return Use.NONE; // another JVM is recording; this one starts without a cache
            }
            Path conf = Files.createTempDirectory(dir, name + ".rec-").resolve("classes.aotconf");
            Recording rec = new Recording(this, name, conf, lock, List.copyOf(jvmOptions));
            return new Use(with(QUIET, "-XX:AOTMode=record", "-XX:AOTConfiguration=" + conf,
                    "-Dcloister.aot.recording=" + conf), Optional.empty(), Optional.of(rec));
        } catch (IOException | UncheckedIOException e) {
            return Use.NONE; // an unwritable cache folder costs speed, never the job
        }
    }

    private static boolean takeLock(Path lock) throws IOException {
        try {
            Files.createFile(lock);
            return true;
        } catch (FileAlreadyExistsException e) {
            try {
                FileTime t = Files.getLastModifiedTime(lock);
                if (t.toInstant().isBefore(Instant.now().minus(STALE))) {
                    Files.deleteIfExists(lock);
                    Files.createFile(lock);
                    return true;
                }
            } catch (IOException ignored) {
                // raced with another JVM taking it over
            }
            return false;
        }
    }

    private String key(String role, List<String> jvmOptions) {
        StringBuilder s = new StringBuilder(role).append('\n').append(javaBin).append('\n')
                .append(Runtime.version()).append('\n').append(System.getProperty("java.vm.version")).append('\n');
        jvmOptions.forEach(o -> s.append(o).append('\n'));
        for (Path p : jarsOf(classPath)) {
            try {
                if (!Files.exists(p)) {
                    s.append(p).append(" missing\n"); // the JVM skips a missing Class-Path jar; so does the key
                    continue;
                }
                s.append(p.toAbsolutePath()).append(' ').append(Files.size(p)).append(' ')
                        .append(Files.getLastModifiedTime(p).toMillis()).append('\n');
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(s.toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK always has SHA-256", e);
        }
    }

    /**
     * The cache options for one JVM start.
     *
     * @param options to put before the main class (empty when the JVM starts without a cache)
     * @param cache the cache file the JVM reads (to make visible inside a sandbox), if any
     * @param recording present when this JVM records; call {@link Recording#createAfterExit(long)} once it runs
     */
    public record Use(List<String> options, Optional<Path> cache, Optional<Recording> recording) {
        /** No cache. */
        public static final Use NONE = new Use(List.of(), Optional.empty(), Optional.empty());
    }

    /** A JVM recording its classes; the record becomes a cache once that JVM has exited. */
    public static final class Recording {
        private final AotCache owner;
        private final String name;
        private final Path conf;
        private final Path lock;
        private final List<String> jvmOptions;

        private Recording(AotCache owner, String name, Path conf, Path lock, List<String> jvmOptions) {
            this.owner = owner;
            this.name = name;
            this.conf = conf;
            this.lock = lock;
            this.jvmOptions = jvmOptions;
        }

        /** The folder the recording JVM writes into (it must be writable for that JVM, e.g. inside a sandbox). */
        public Path folder() {
            return conf.getParent();
        }

        /**
         * Starts a detached process that waits until process {@code pid} (the recording JVM, or a process that
         * outlives it) has exited, then makes the cache and moves it into place, or marks the key as failed so
         * no JVM records it again; it keeps the three newest caches of the role (older jars' caches go). Returns
         * at once; the job never waits for the cache.
         */
        public void createAfterExit(long pid) {
            Path cache = owner.dir.resolve(name + ".aot");
            Path tmp = folder().resolve("classes.aot");
            List<String> create = new ArrayList<>(List.of(owner.javaBin));
            create.addAll(jvmOptions);
            create.addAll(QUIET);
            create.addAll(List.of("-XX:AOTMode=create", "-XX:AOTConfiguration=" + conf, "-XX:AOTCache=" + tmp,
                    "-cp", owner.classPath));
            // No record (the JVM was killed): drop the lock so a later JVM records again. A record the JDK cannot
            // turn into a cache: mark the key failed, so no JVM pays for recording it again.
            // Only wait for a process that is still there: once it has ended its number may belong to another.
            boolean alive = ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
            StringBuilder script = new StringBuilder((alive ? "tail --pid=" + pid + " -f /dev/null; " : "")
                    + "if [ -s " + q(conf) + " ]; then if ");
            create.forEach(a -> script.append(q(a)).append(' '));
            script.append("; then mv -f ").append(q(tmp)).append(' ').append(q(cache)).append("; else : > ")
                    .append(q(owner.dir.resolve(name + ".failed"))).append("; fi; fi; rm -rf ").append(q(folder()))
                    .append(' ').append(q(lock)).append("; cd ").append(q(owner.dir)).append(" && ls -t ")
                    .append(q(name.substring(0, name.lastIndexOf('-') + 1))).append("*.aot 2>/dev/null | tail -n +4")
                    .append(" | while read -r old; do rm -f \"$old\"; done");
            try {
                new ProcessBuilder("setsid", "/bin/sh", "-c", script.toString())
                        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .redirectError(ProcessBuilder.Redirect.DISCARD)
                        .start();
            } catch (IOException e) {
                // Without the helper the lock goes stale and a later JVM records again.
            }
        }

        /**
         * For the recording JVM itself: when this JVM was started to record (see {@link AotCache#use}), starts the
         * process that makes the cache once it has exited. Does nothing otherwise.
         */
        public static void finishIfRecording() {
            String conf = System.getProperty("cloister.aot.recording");
            if (conf == null) {
                return;
            }
            Path c = Path.of(conf);
            String folder = c.getParent().getFileName().toString();
            int at = folder.indexOf(".rec-");
            Optional<AotCache> self = forThisJvm();
            if (at < 0 || self.isEmpty() || !self.get().dir.equals(c.getParent().getParent())) {
                return;
            }
            String name = folder.substring(0, at);
            List<String> opts = new ArrayList<>(java.lang.management.ManagementFactory.getRuntimeMXBean()
                    .getInputArguments());
            opts.removeIf(o -> o.startsWith("-XX:AOT") || QUIET.contains(o) || o.startsWith("-Dcloister.aot."));
            new Recording(self.get(), name, c, self.get().dir.resolve(name + ".lock"), opts)
                    .createAfterExit(ProcessHandle.current().pid());
        }
    }

    /**
     * The class path's jars and the jars their manifests' Class-Path names (one level, as Maven writes them: opening
     * every library jar would cost a cold JVM a tenth of a second per step, and only sizes and times matter here).
     */
    private static List<Path> jarsOf(String classPath) {
        List<Path> out = new ArrayList<>();
        for (String entry : classPath.split(File.pathSeparator)) {
            Path jar = Path.of(entry).toAbsolutePath().normalize();
            out.add(jar);
            try (java.util.jar.JarFile f = new java.util.jar.JarFile(jar.toFile(), false)) {
                java.util.jar.Manifest m = f.getManifest();
                String more = m == null ? null : m.getMainAttributes().getValue(java.util.jar.Attributes.Name.CLASS_PATH);
                if (more != null) {
                    for (String rel : more.trim().split("\\s+")) {
                        out.add(jar.resolveSibling(rel).normalize());
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return out;
    }

    private static List<String> with(List<String> first, String... more) {
        List<String> all = new ArrayList<>(first);
        all.addAll(List.of(more));
        return List.copyOf(all);
    }

    private static String q(Object v) {
        return "'" + v.toString().replace("'", "'\\''") + "'";
    }
}
