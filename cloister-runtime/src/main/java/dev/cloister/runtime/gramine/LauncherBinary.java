package dev.cloister.runtime.gramine;

import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Cloister's launcher for {@code gramine-direct} ({@code cloister-launcher.c}, a resource of this module): a small
 * static C program, compiled once per source version into the Gramine cache folder,
 * {@code $CLOISTER_GRAMINE_CACHE} (default {@code ~/.cache/cloister/gramine}) {@code /launcher-<first 16 hex of the
 * source's SHA-256>/cloister-launcher}. {@code scripts/gramine-local} compiles it to the same place; a worker
 * without it compiles it on first use when a C compiler and OpenSSL's static libcrypto are here.
 *
 * <p>Why C and not a JVM inside Gramine: docs/decisions.md ("The launcher inside gramine-direct").
 */
public final class LauncherBinary {
    private LauncherBinary() {}

    /** The launcher's source, as a classpath resource of this class. */
    static final String SOURCE = "cloister-launcher.c";

    /** The launcher's source bytes. */
    public static byte[] source() throws IOException {
        try (InputStream in = LauncherBinary.class.getResourceAsStream(SOURCE)) {
            if (in == null) {
                throw new IOException("resource " + SOURCE + " is missing from the classpath");
            }
            return in.readAllBytes();
        }
    }

    /** The Gramine cache folder shared with scripts/gramine-local. */
    public static Path cacheRoot() {
        String c = System.getenv("CLOISTER_GRAMINE_CACHE");
        if (c != null && !c.isBlank()) {
            return Path.of(c);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("cloister/gramine");
    }

    /**
     * The compiled launcher, compiling it first if this source version has not been compiled here.
     *
     * @param path the PATH to find the C compiler on
     * @throws CloisterException ENVIRONMENT when it is not compiled and cannot be (no compiler or no libcrypto),
     *     naming the command that prepares everything
     */
    public static Path locate(String path) throws CloisterException, IOException {
        byte[] src = source();
        String key;
        try {
            key = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(src)).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        Path dir = cacheRoot().resolve("launcher-" + key);
        Path bin = dir.resolve("cloister-launcher");
        if (Files.isExecutable(bin)) {
            return bin;
        }
        Path cc = null;
        for (String d : (path == null ? "" : path).split(":")) {
            for (String name : List.of("cc", "gcc")) {
                Path p = d.isEmpty() ? null : Path.of(d, name);
                if (cc == null && p != null && Files.isExecutable(p)) {
                    cc = p;
                }
            }
        }
        String how = "run scripts/gramine-local, which installs gcc and libssl-dev and compiles it";
        if (cc == null) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "gramine-direct needs Cloister's launcher, "
                    + "which is not compiled here yet (" + bin + ") and there is no C compiler on PATH to compile it; "
                    + how);
        }
        Files.createDirectories(dir);
        Path tmp = Files.createTempDirectory(dir, ".build-");
        try {
            Path c = Files.write(tmp.resolve(SOURCE), src);
            Path out = tmp.resolve("cloister-launcher");
            ProcessBuilder pb = new ProcessBuilder(cc.toString(), "-O2", "-static", "-o", out.toString(), c.toString(),
                    "-lcrypto").redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            Process p;
            try {
                p = pb.start();
            } catch (IOException e) {
                throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "cannot start " + cc + ": "
                        + e.getMessage() + "; " + how);
            }
            String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            boolean done;
            try {
                done = p.waitFor(120, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "interrupted while compiling the launcher");
            }
            if (!done || p.exitValue() != 0 || !Files.isExecutable(out)) {
                p.destroyForcibly();
                String first = text.lines().filter(l -> l.contains("error")).findFirst().orElse(text.lines().findFirst().orElse(""));
                throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "compiling Cloister's launcher failed ("
                        + first.strip() + "); " + how);
            }
            try {
                Files.move(out, bin, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(out, bin, StandardCopyOption.REPLACE_EXISTING);
            }
            return bin;
        } finally {
            dev.cloister.core.AtomicFiles.deleteTree(tmp);
        }
    }
}
