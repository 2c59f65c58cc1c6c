package dev.cloister.pf;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The Gramine-written vectors in src/test/resources/gramine-pf (see ORIGIN.txt there). */
final class Vectors {
    record Vector(String name, String path, long size, String sha256) {
        Path pf() {
            return dir().resolve(name + ".pf");
        }

        Path plain() {
            return dir().resolve(name + ".plain");
        }

        PfVersion version() {
            return name.startsWith("v1") ? PfVersion.V1 : PfVersion.V2;
        }
    }

    static Path dir() {
        return Path.of("src/test/resources/gramine-pf");
    }

    static PfKey key() throws Exception {
        return PfKey.read(dir().resolve("wrap.key"));
    }

    static List<Vector> all() throws IOException {
        List<Vector> v = new ArrayList<>();
        for (String line : Files.readAllLines(dir().resolve("MANIFEST.tsv"))) {
            if (line.isBlank()) {
                continue;
            }
            String[] f = line.split("\t");
            v.add(new Vector(f[0], f[1], Long.parseLong(f[2]), f[3]));
        }
        return v;
    }

    static InputStream open(Path p) throws IOException {
        return Files.newInputStream(p);
    }
}
