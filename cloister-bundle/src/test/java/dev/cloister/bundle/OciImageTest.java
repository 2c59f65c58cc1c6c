package dev.cloister.bundle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Images assembled in the test with the system's tar (an independent writer): an OCI layout and a docker save
 * tarball holding sqlite3 and its libraries in a merged-/usr layout, a second layer with whiteouts.
 */
class OciImageTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    /** Layer 1: sqlite3 and the libraries ldd names, under /usr with /lib and /lib64 links, plus junk. */
    private Path layer1() throws Exception {
        Path d = tmp.resolve("l1");
        Files.createDirectories(d.resolve("usr/bin"));
        Files.createDirectories(d.resolve("usr/lib/x86_64-linux-gnu"));
        Files.createDirectories(d.resolve("usr/lib64"));
        Files.createDirectories(d.resolve("usr/share/doc"));
        Files.createDirectories(d.resolve("etc/ld.so.conf.d"));
        Files.createDirectories(d.resolve("proc"));
        Files.copy(Path.of("/usr/bin/sqlite3"), d.resolve("usr/bin/sqlite3"));
        for (String lib : Sandbox.ldd("/usr/bin/sqlite3")) {
            String name = Path.of(lib).getFileName().toString();
            if (!Files.exists(d.resolve("usr/lib/x86_64-linux-gnu/" + name))) {
                Files.copy(Path.of(lib).toRealPath(), d.resolve("usr/lib/x86_64-linux-gnu/" + name));
            }
        }
        Files.createSymbolicLink(d.resolve("lib"), Path.of("usr/lib"));
        Files.createSymbolicLink(d.resolve("lib64"), Path.of("usr/lib64"));
        Files.createSymbolicLink(d.resolve("usr/lib64/ld-linux-x86-64.so.2"),
                Path.of("../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"));
        Files.writeString(d.resolve("etc/ld.so.conf"), "include /etc/ld.so.conf.d/*.conf\n");
        Files.writeString(d.resolve("etc/ld.so.conf.d/multiarch.conf"), "# multiarch\n/usr/lib/x86_64-linux-gnu\n");
        Files.writeString(d.resolve("usr/share/doc/junk.txt"), "deleted by layer 2");
        Files.writeString(d.resolve("usr/share/doc/old.txt"), "hidden by the opaque whiteout");
        Files.writeString(d.resolve("etc/motd"), "replaced by layer 2");
        Files.writeString(d.resolve("etc/shadow"), "root:$6$hash:19000::::::");
        Files.writeString(d.resolve("etc/gshadow-"), "root:*::");
        return tar(d, "l1.tar");
    }

    /** Layer 2: deletes junk.txt, makes /usr/share/doc opaque, replaces /etc/motd, adds /data. */
    private Path layer2() throws Exception {
        Path d = tmp.resolve("l2");
        Files.createDirectories(d.resolve("usr/share/doc"));
        Files.createDirectories(d.resolve("etc"));
        Files.createDirectories(d.resolve("data"));
        Files.writeString(d.resolve("usr/share/.wh.doc"), "");
        Files.writeString(d.resolve("etc/motd"), "layer 2");
        Files.writeString(d.resolve("data/note.txt"), "data");
        // A plugin whose optional library the image lacks: bundled as is, not an error (it is not the entrypoint).
        Path src = tmp.resolve("plugin.c");
        Files.writeString(src, "int foo(void); int main(void) { return foo(); }\n");
        Path lib = tmp.resolve("libfoo.c");
        Files.writeString(lib, "int foo(void) { return 0; }\n");
        Files.createDirectories(tmp.resolve("foolib"));
        assertThat(Sandbox.run("gcc", "-shared", "-fPIC", "-o", tmp.resolve("foolib/libfoo.so").toString(),
                lib.toString()).exit()).isZero();
        Files.createDirectories(d.resolve("usr/bin"));
        assertThat(Sandbox.run("gcc", "-o", d.resolve("usr/bin/plugin").toString(), src.toString(),
                "-L" + tmp.resolve("foolib"), "-lfoo").exit()).isZero();
        return tar(d, "l2.tar");
    }

    private Path tar(Path dir, String name) throws Exception {
        Path out = tmp.resolve(name);
        Sandbox.Run r = Sandbox.run("tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-cf",
                out.toString(), "-C", dir.toString(), ".");
        assertThat(r.exit()).as(r.err()).isZero();
        return out;
    }

    private static byte[] gzip(byte[] b) throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (GZIPOutputStream g = new GZIPOutputStream(bos)) {
            g.write(b);
        }
        return bos.toByteArray();
    }

    private static String sha(byte[] b) {
        return HexFormat.of().formatHex(ParallelHasher.sha256().digest(b));
    }

    private byte[] config() throws Exception {
        ObjectNode cfg = JSON.createObjectNode();
        ObjectNode c = cfg.putObject("config");
        c.putArray("Entrypoint").add("sqlite3");
        c.putArray("Cmd").add(":memory:").add("select 40+2;");
        c.putArray("Env").add("PATH=/usr/local/bin:/usr/bin:/bin").add("LANG=C.UTF-8");
        c.put("WorkingDir", "/data");
        return JSON.writeValueAsBytes(cfg);
    }

    /** An OCI image layout tarball: layer 1 uncompressed, layer 2 gzip-compressed (as registries serve it). */
    private Path ociLayout(boolean corruptBlob) throws Exception {
        byte[] l1 = Files.readAllBytes(layer1());
        byte[] l2 = gzip(Files.readAllBytes(layer2()));
        byte[] cfg = config();
        ObjectNode man = JSON.createObjectNode();
        man.put("schemaVersion", 2);
        man.putObject("config").put("digest", "sha256:" + sha(cfg));
        var layers = man.putArray("layers");
        layers.addObject().put("digest", "sha256:" + sha(l1)).put("mediaType",
                "application/vnd.oci.image.layer.v1.tar");
        layers.addObject().put("digest", "sha256:" + sha(l2)).put("mediaType",
                "application/vnd.oci.image.layer.v1.tar+gzip");
        byte[] manBytes = JSON.writeValueAsBytes(man);
        ObjectNode idx = JSON.createObjectNode();
        idx.put("schemaVersion", 2);
        idx.putArray("manifests").addObject().put("digest", "sha256:" + sha(manBytes));
        Path d = tmp.resolve("oci");
        Files.createDirectories(d.resolve("blobs/sha256"));
        Files.writeString(d.resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        Files.write(d.resolve("index.json"), JSON.writeValueAsBytes(idx));
        for (byte[] b : List.of(l1, l2, cfg, manBytes)) {
            byte[] stored = b;
            if (corruptBlob && b == l1) {
                stored = b.clone();
                stored[700] ^= 1;
            }
            Files.write(d.resolve("blobs/sha256/" + sha(b)), stored);
        }
        return tar(d, "image.tar");
    }

    @Test
    void ociLayoutWithWhiteoutsRunsFromItsBundle() throws Exception {
        Path image = ociLayout(false);
        BundleBuilder.Result r = BundleBuilder.build(BuildOptions.image(image), tmp.resolve("b"), true);
        Bundle b = Bundle.open(r.dir());
        assertThat(b.entrypoint()).isEqualTo("/usr/bin/sqlite3");
        assertThat(b.spec().argv()).containsExactly("/usr/bin/sqlite3", ":memory:", "select 40+2;");
        assertThat(b.spec().env()).containsEntry("LANG", "C.UTF-8").containsEntry("PATH", "/usr/local/bin:/usr/bin:/bin");
        assertThat(Sandbox.paths(b)).containsAll(Sandbox.ldd("/usr/bin/sqlite3"))
                .contains("/data/note.txt", "/etc/motd", "/usr/bin/plugin")
                .doesNotContain("/usr/share/doc/junk.txt", "/usr/share/doc/old.txt", "/etc/shadow", "/etc/gshadow-");
        assertThat(Sandbox.paths(b)).noneMatch(p -> p.startsWith("/proc"));
        String motd = Files.readString(b.hostPath(b.files().stream().filter(f -> f.path().equals("/etc/motd"))
                .findFirst().orElseThrow()));
        assertThat(motd).isEqualTo("layer 2");
        b.verify();
        Sandbox.Run run = Sandbox.runBundle(b);
        assertThat(run.exit()).as(run.err()).isZero();
        assertThat(run.out().strip()).isEqualTo("42");
    }

    @Test
    void dockerSaveTarballGivesTheSameBundle() throws Exception {
        Path oci = ociLayout(false);
        BundleBuilder.Result fromOci = BundleBuilder.build(BuildOptions.image(oci), tmp.resolve("b1"), false);
        Path d = tmp.resolve("save");
        Files.createDirectories(d.resolve("l1"));
        Files.createDirectories(d.resolve("l2"));
        Files.copy(tmp.resolve("l1.tar"), d.resolve("l1/layer.tar"));
        Files.copy(tmp.resolve("l2.tar"), d.resolve("l2/layer.tar"));
        byte[] cfg = config();
        Files.write(d.resolve(sha(cfg) + ".json"), cfg);
        var m = JSON.createArrayNode().addObject();
        m.put("Config", sha(cfg) + ".json");
        m.putArray("RepoTags").add("sq:latest");
        m.putArray("Layers").add("l1/layer.tar").add("l2/layer.tar");
        Files.write(d.resolve("manifest.json"), JSON.writeValueAsBytes(List.of(m)));
        Path save = tar(d, "save.tar");
        BundleBuilder.Result fromSave = BundleBuilder.build(BuildOptions.image(save), tmp.resolve("b2"), false);
        assertThat(fromSave.measurement()).isEqualTo(fromOci.measurement());
        assertThat(fromSave.treeDigest()).isEqualTo(fromOci.treeDigest());
    }

    @Test
    void corruptBlobIsRejected() throws Exception {
        Path image = ociLayout(true);
        assertThatThrownBy(() -> BundleBuilder.build(BuildOptions.image(image), tmp.resolve("b"), false))
                .isInstanceOf(BundleException.class).hasMessageContaining("blob");
        assertThat(tmp.resolve("b")).doesNotExist();
    }

    @Test
    void layerEntriesEscapingTheRootAreRejected() throws Exception {
        Path d = tmp.resolve("evil");
        Files.createDirectories(d);
        // A link to the host's /etc, then a file written through it: must not land outside the root.
        Files.createSymbolicLink(d.resolve("etc"), Path.of("/../../../../tmp/" + tmp.getFileName() + "-outside"));
        Path t = tar(d, "evil1.tar");
        Path d2 = tmp.resolve("evil2");
        Files.createDirectories(d2.resolve("etc"));
        Files.writeString(d2.resolve("etc/passwd"), "pwned");
        // Only the file, no entry for its directory: the writer must resolve the existing /etc link.
        Path t2 = tmp.resolve("evil2.tar");
        Sandbox.Run tr = Sandbox.run("tar", "-cf", t2.toString(), "-C", d2.toString(), "./etc/passwd");
        assertThat(tr.exit()).as(tr.err()).isZero();
        Path root = tmp.resolve("rootfs");
        Files.createDirectories(root);
        List<Path> layers = new ArrayList<>(List.of(t, t2));
        byte[] cfg = config();
        Path save = tmp.resolve("s");
        Files.createDirectories(save);
        Files.copy(layers.get(0), save.resolve("a.tar"));
        Files.copy(layers.get(1), save.resolve("b.tar"));
        Files.write(save.resolve("c.json"), cfg);
        var m = JSON.createArrayNode().addObject();
        m.put("Config", "c.json");
        m.putArray("Layers").add("a.tar").add("b.tar");
        Files.write(save.resolve("manifest.json"), JSON.writeValueAsBytes(List.of(m)));
        Path img = tar(save, "evil.tar");
        assertThatThrownBy(() -> OciImage.unpack(img, root)).isInstanceOf(BundleException.class)
                .hasMessageContaining("/etc");
        assertThat(tmp.resolveSibling(tmp.getFileName() + "-outside")).doesNotExist();
    }
}
