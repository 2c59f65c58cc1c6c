package dev.cloister.volume;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;

/** Test helpers: seeded plaintext trees and their content as a map. */
final class Trees {
    private Trees() {}

    /** A tree with nested folders, an empty file, small files and one of several MiB (parallel encryption). */
    static Path make(Path root, long seed) throws IOException {
        Random r = new Random(seed);
        Files.createDirectories(root.resolve("db/segments"));
        write(root.resolve("empty"), new byte[0]);
        write(root.resolve("db/small.txt"), bytes(r, 100));
        write(root.resolve("db/segments/00001.seg"), bytes(r, 3072));
        write(root.resolve("db/segments/00002.seg"), bytes(r, 70_000));
        write(root.resolve("db/segments/0" + "x".repeat(120) + ".seg"), bytes(r, 5000));
        write(root.resolve("big.bin"), bytes(r, 5 << 20));
        for (int i = 0; i < 20; i++) {
            write(root.resolve("db/f" + i), bytes(r, r.nextInt(20_000)));
        }
        return root;
    }

    static byte[] bytes(Random r, int n) {
        byte[] b = new byte[n];
        r.nextBytes(b);
        return b;
    }

    static void write(Path p, byte[] b) throws IOException {
        Files.createDirectories(p.getParent());
        Files.write(p, b);
    }

    /** Relative path -> content digest, of every regular file under {@code root}. */
    static TreeMap<String, String> content(Path root) throws Exception {
        TreeMap<String, String> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                byte[] d = java.security.MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p));
                m.put(root.relativize(p).toString(), java.util.HexFormat.of().formatHex(d));
            }
        }
        return m;
    }

    static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(t);
                } else {
                    Files.copy(p, t, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }

    /** The tree as a tar stream made by GNU tar (a real tar, long names in its default GNU format). */
    static byte[] tar(Path root, String... extra) throws Exception {
        java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of("tar"));
        cmd.addAll(java.util.List.of(extra));
        cmd.addAll(java.util.List.of("-C", root.toString(), "-cf", "-", "."));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (p.waitFor() != 0) {
            throw new IOException("tar failed");
        }
        return out;
    }
}
