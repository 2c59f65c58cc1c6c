package dev.cloister.bundle;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;

/**
 * Reads a container image without a Docker daemon: an OCI image layout ({@code oci-layout}, {@code index.json},
 * {@code blobs/sha256/...}) or a {@code docker save} tarball ({@code manifest.json}), either as a tar file.
 * Layers are applied in order, honouring whiteouts ({@code .wh.NAME} deletes NAME, {@code .wh..wh..opq} empties
 * the directory); every blob is checked against its digest; no entry may leave the root file system, and links
 * are never followed while writing (a parent that is a link is resolved inside the root).
 */
public final class OciImage {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Top-level directories never bundled (as Gramine Shielded Containers does): kernel and volatile state. */
    static final Set<String> EXCLUDED = Set.of("proc", "sys", "dev", "boot", "run", "tmp", "var", ".dockerenv",
            ".dockerinit");

    private OciImage() {}

    /**
     * What the image's configuration says about how to start it.
     *
     * @param entrypoint Entrypoint
     * @param cmd        Cmd
     * @param env        Env as a map, in order
     * @param workingDir WorkingDir ("" if unset)
     */
    public record Config(List<String> entrypoint, List<String> cmd, Map<String, String> env, String workingDir) {}

    /** Unpacks {@code tarball} into the empty directory {@code rootfs} and returns the image configuration. */
    public static Config unpack(Path tarball, Path rootfs) throws BundleException, IOException {
        String label = "image " + tarball.getFileName();
        Path outer = Files.createTempDirectory("cloister-oci-");
        try {
            Map<String, Path> blobs = new LinkedHashMap<>();
            try (InputStream in = new BufferedInputStream(Files.newInputStream(tarball))) {
                Tar.read(in, label, (e, data) -> {
                    if (e.type() != Tar.Type.FILE) {
                        return;
                    }
                    String n = clean(e.name(), label);
                    Path dest = outer.resolve("f" + blobs.size());
                    Files.copy(data, dest, StandardCopyOption.REPLACE_EXISTING);
                    blobs.put(n, dest);
                });
            }
            List<Path> layers = new ArrayList<>();
            JsonNode config;
            if (blobs.containsKey("manifest.json")) {
                JsonNode m = json(blobs.get("manifest.json"), label + " manifest.json");
                if (!m.isArray() || m.size() != 1) {
                    throw BundleException.badInput(label + ": manifest.json must list exactly one image");
                }
                config = json(blob(blobs, text(m.get(0), "Config", label), label), label + " config");
                for (JsonNode l : array(m.get(0), "Layers", label)) {
                    layers.add(blob(blobs, l.asText(), label));
                }
            } else if (blobs.containsKey("index.json")) {
                JsonNode idx = json(blobs.get("index.json"), label + " index.json");
                JsonNode mans = array(idx, "manifests", label);
                if (mans.size() != 1) {
                    throw BundleException.badInput(label + ": index.json must list exactly one manifest, lists "
                            + mans.size());
                }
                JsonNode man = json(digestBlob(blobs, text(mans.get(0), "digest", label), label),
                        label + " image manifest");
                config = json(digestBlob(blobs, text(man.get("config"), "digest", label), label), label + " config");
                for (JsonNode l : array(man, "layers", label)) {
                    layers.add(digestBlob(blobs, text(l, "digest", label), label));
                }
            } else {
                throw BundleException.badInput(label + " is neither an OCI image layout (index.json) nor a docker "
                        + "save tarball (manifest.json)");
            }
            for (int i = 0; i < layers.size(); i++) {
                applyLayer(layers.get(i), rootfs, label + " layer " + i);
            }
            JsonNode c = config.get("config");
            if (c == null || !c.isObject()) {
                throw BundleException.badInput(label + ": image configuration has no config object");
            }
            Map<String, String> env = new LinkedHashMap<>();
            for (String kv : strings(c, "Env", label)) {
                int eq = kv.indexOf('=');
                if (eq <= 0) {
                    throw BundleException.badInput(label + ": Env entry " + kv + " is not NAME=VALUE");
                }
                env.put(kv.substring(0, eq), kv.substring(eq + 1));
            }
            JsonNode wd = c.get("WorkingDir");
            return new Config(strings(c, "Entrypoint", label), strings(c, "Cmd", label), env,
                    wd == null || wd.isNull() ? "" : wd.asText());
        } finally {
            BundleBuilder.deleteQuietly(outer);
        }
    }

    /**
     * Removes what Gramine Shielded Containers also leaves out of an image's trusted files: password hashes
     * ({@code /etc/shadow*}, {@code /etc/gshadow*}), {@code /etc/security}, {@code /etc/.pwd.lock},
     * {@code /etc/mtab} and the SysV {@code /etc/rc*.d} directories. A bundle's manifest should not carry even
     * the hash of a password file.
     */
    static void dropHostState(Path rootfs, String label) throws IOException, BundleException {
        var etc = RootFs.confined(rootfs, true, label).resolve("/etc");
        if (etc.isEmpty() || !Files.isDirectory(etc.get().hostPath(), LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> s = Files.list(etc.get().hostPath())) {
            for (Path p : s.toList()) {
                String n = p.getFileName().toString();
                if (n.startsWith("shadow") || n.startsWith("gshadow") || n.equals("security") || n.equals(".pwd.lock")
                        || n.equals("mtab") || n.matches("rc.*\\.d")) {
                    BundleBuilder.deleteQuietly(p);
                }
            }
        }
    }

    /** The top-level entries of an unpacked root file system that a bundle takes, sorted. */
    static List<String> topLevel(Path rootfs) throws IOException {
        try (Stream<Path> s = Files.list(rootfs)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> !EXCLUDED.contains(n)).sorted()
                    .map(n -> "/" + n).toList();
        }
    }

    private static void applyLayer(Path layer, Path rootfs, String label) throws IOException, BundleException {
        RootFs fs = RootFs.confined(rootfs, true, label);
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(layer))) {
            raw.mark(2);
            int b0 = raw.read();
            int b1 = raw.read();
            raw.reset();
            InputStream in = (b0 == 0x1f && b1 == 0x8b) ? new GZIPInputStream(raw, 1 << 16) : raw;
            Tar.read(in, label, (e, data) -> {
                String name = clean(e.name(), label);
                if (name.isEmpty()) {
                    return;
                }
                int slash = name.lastIndexOf('/');
                String parent = slash < 0 ? "" : name.substring(0, slash);
                String base = name.substring(slash + 1);
                Path dir = parentDir(fs, rootfs, parent, label);
                if (base.equals(".wh..wh..opq")) {
                    try (Stream<Path> s = Files.list(dir)) {
                        for (Path p : s.toList()) {
                            BundleBuilder.deleteQuietly(p);
                        }
                    }
                    return;
                }
                if (base.startsWith(".wh.")) {
                    BundleBuilder.deleteQuietly(dir.resolve(base.substring(4)));
                    return;
                }
                Path target = dir.resolve(base);
                switch (e.type()) {
                    case DIR -> {
                        if (!Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS)) {
                            BundleBuilder.deleteQuietly(target);
                            Files.createDirectory(target);
                        }
                    }
                    case FILE -> {
                        BundleBuilder.deleteQuietly(target);
                        Files.copy(data, target);
                        setMode(target, e.mode());
                    }
                    case SYMLINK -> {
                        BundleBuilder.deleteQuietly(target);
                        Files.createSymbolicLink(target, Path.of(e.linkName()));
                    }
                    case HARDLINK -> {
                        String src = clean(e.linkName(), label);
                        RootFs.Resolved r = fs.resolve("/" + src).orElseThrow(() -> BundleException.badInput(
                                label + ": hard link " + name + " points to missing " + src));
                        BundleBuilder.deleteQuietly(target);
                        Files.copy(r.hostPath(), target);
                    }
                    case OTHER -> {
                        // device nodes and FIFOs carry no content a bundle could measure
                    }
                }
            });
        }
    }

    private static void setMode(Path p, int mode) throws IOException {
        Files.setPosixFilePermissions(p, (mode & 0100) != 0
                ? java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x")
                : java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
    }

    /** The host directory for {@code parent}, created if needed, resolving links inside the root. */
    private static Path parentDir(RootFs fs, Path rootfs, String parent, String label)
            throws IOException, BundleException {
        Path cur = rootfs;
        StringBuilder enclave = new StringBuilder();
        for (String c : RootFs.split(parent)) {
            enclave.append('/').append(c);
            Path next = cur.resolve(c);
            if (Files.isSymbolicLink(next)) {
                RootFs.Resolved r = fs.resolve(enclave.toString()).orElseThrow(() -> BundleException.badInput(
                        label + ": " + enclave + " is a dangling link used as a directory"));
                next = r.hostPath();
                if (!Files.isDirectory(next, LinkOption.NOFOLLOW_LINKS)) {
                    throw BundleException.badInput(label + ": " + enclave + " is used as a directory but is not one");
                }
            } else if (!Files.exists(next, LinkOption.NOFOLLOW_LINKS)) {
                Files.createDirectory(next);
            } else if (!Files.isDirectory(next, LinkOption.NOFOLLOW_LINKS)) {
                throw BundleException.badInput(label + ": " + enclave + " is used as a directory but is a file");
            }
            cur = next;
        }
        return cur;
    }

    /** Strips {@code ./} and trailing slashes; rejects absolute names and {@code ..}. */
    static String clean(String name, String label) throws BundleException {
        String n = name;
        while (n.startsWith("./")) {
            n = n.substring(2);
        }
        if (n.equals(".")) {
            return "";
        }
        while (n.endsWith("/")) {
            n = n.substring(0, n.length() - 1);
        }
        if (n.startsWith("/")) {
            throw BundleException.badInput(label + ": entry " + name + " has an absolute path");
        }
        for (String c : n.split("/")) {
            if (c.equals("..")) {
                throw BundleException.badInput(label + ": entry " + name + " escapes the root through '..'");
            }
        }
        return n;
    }

    private static Path digestBlob(Map<String, Path> blobs, String digest, String label) throws BundleException,
            IOException {
        if (!digest.matches("sha256:[0-9a-f]{64}")) {
            throw BundleException.badInput(label + ": unsupported digest " + digest);
        }
        return blob(blobs, "blobs/sha256/" + digest.substring(7), label);
    }

    /** A blob by its path; blobs under blobs/sha256/ must hash to their name. */
    private static Path blob(Map<String, Path> blobs, String name, String label) throws BundleException, IOException {
        String n = clean(name, label);
        Path p = blobs.get(n);
        if (p == null) {
            throw BundleException.badInput(label + ": blob " + name + " is missing");
        }
        if (n.startsWith("blobs/sha256/")) {
            String want = n.substring("blobs/sha256/".length());
            String got = ParallelHasher.one(p, null).sha256();
            if (!got.equals(want)) {
                throw BundleException.denied(label + ": blob " + name + " has SHA-256 " + got);
            }
        }
        return p;
    }

    private static JsonNode json(Path p, String what) throws BundleException {
        try {
            return JSON.readTree(p.toFile());
        } catch (IOException e) {
            throw BundleException.badInput(what + " is not valid JSON");
        }
    }

    private static String text(JsonNode o, String f, String label) throws BundleException {
        JsonNode v = o == null ? null : o.get(f);
        if (v == null || !v.isTextual()) {
            throw BundleException.badInput(label + ": field " + f + " is missing or not a string");
        }
        return v.asText();
    }

    private static JsonNode array(JsonNode o, String f, String label) throws BundleException {
        JsonNode v = o == null ? null : o.get(f);
        if (v == null || !v.isArray()) {
            throw BundleException.badInput(label + ": field " + f + " is missing or not an array");
        }
        return v;
    }

    private static List<String> strings(JsonNode o, String f, String label) throws BundleException {
        JsonNode v = o.get(f);
        if (v == null || v.isNull()) {
            return List.of();
        }
        if (!v.isArray()) {
            throw BundleException.badInput(label + ": config field " + f + " is not an array");
        }
        List<String> out = new ArrayList<>();
        for (JsonNode x : v) {
            if (!x.isTextual()) {
                throw BundleException.badInput(label + ": config field " + f + " holds a non-string");
            }
            out.add(x.asText());
        }
        return out;
    }
}
