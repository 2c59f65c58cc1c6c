package dev.cloister.bundle;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * Writes a bundle as an OCI image layout tarball for a real SGX host, without a Docker daemon: one layer holding
 * the bundle under {@value #BUNDLE_DIR}, and a configuration whose entrypoint runs {@code gramine-sgx entrypoint}
 * there. The layer is meant to sit on a Gramine base image (the tarball can be loaded with {@code docker load}
 * or {@code skopeo copy oci-archive:...}). Deterministic: same bundle, same bytes.
 */
public final class ImageExport {
    /** Where the bundle lives in the image. */
    public static final String BUNDLE_DIR = "cloister/bundle";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MTIME = BundleBuilder.FIXED_TIME.getEpochSecond();

    private ImageExport() {}

    /** Writes {@code bundle} as an OCI image layout tar to {@code out}. */
    public static void write(Bundle bundle, OutputStream out) throws IOException, BundleException {
        byte[] layer = layer(bundle.dir());
        String layerDigest = sha(layer);
        ObjectNode config = JSON.createObjectNode();
        config.put("architecture", "amd64");
        config.put("os", "linux");
        ObjectNode c = config.putObject("config");
        c.putArray("Entrypoint").add("gramine-sgx").add("entrypoint");
        c.putArray("Env").add("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        c.put("WorkingDir", "/" + BUNDLE_DIR);
        ObjectNode labels = c.putObject("Labels");
        labels.put("dev.cloister.bundle.name", bundle.name());
        labels.put("dev.cloister.bundle.version", bundle.version());
        labels.put("dev.cloister.bundle.measurement", bundle.measurement());
        ObjectNode rootfs = config.putObject("rootfs");
        rootfs.put("type", "layers");
        rootfs.putArray("diff_ids").add("sha256:" + layerDigest);
        byte[] configBytes = JSON.writeValueAsBytes(config);
        ObjectNode manifest = JSON.createObjectNode();
        manifest.put("schemaVersion", 2);
        manifest.put("mediaType", "application/vnd.oci.image.manifest.v1+json");
        descriptor(manifest.putObject("config"), "application/vnd.oci.image.config.v1+json", configBytes);
        ArrayNode layers = manifest.putArray("layers");
        descriptor(layers.addObject(), "application/vnd.oci.image.layer.v1.tar", layer);
        byte[] manifestBytes = JSON.writeValueAsBytes(manifest);
        ObjectNode index = JSON.createObjectNode();
        index.put("schemaVersion", 2);
        index.put("mediaType", "application/vnd.oci.image.index.v1+json");
        ObjectNode m = index.putArray("manifests").addObject();
        descriptor(m, "application/vnd.oci.image.manifest.v1+json", manifestBytes);
        m.putObject("annotations").put("org.opencontainers.image.ref.name", bundle.name() + ":" + bundle.version());
        Tar.Writer w = new Tar.Writer(out, MTIME);
        w.file("oci-layout", 0644, "{\"imageLayoutVersion\":\"1.0.0\"}".getBytes(StandardCharsets.UTF_8));
        w.file("index.json", 0644, JSON.writeValueAsBytes(index));
        w.dir("blobs", 0755);
        w.dir("blobs/sha256", 0755);
        for (byte[] blob : List.of(configBytes, manifestBytes, layer)) {
            w.file("blobs/sha256/" + sha(blob), 0644, blob);
        }
        w.finish();
    }

    private static void descriptor(ObjectNode d, String mediaType, byte[] blob) {
        d.put("mediaType", mediaType);
        d.put("digest", "sha256:" + sha(blob));
        d.put("size", blob.length);
    }

    private static byte[] layer(Path dir) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        Tar.Writer w = new Tar.Writer(bos, MTIME);
        w.dir("cloister", 0755);
        w.dir(BUNDLE_DIR, 0755);
        List<Path> all;
        try (Stream<Path> s = Files.walk(dir)) {
            all = s.filter(p -> !p.equals(dir)).sorted().toList();
        }
        for (Path p : all) {
            String name = BUNDLE_DIR + "/" + dir.relativize(p);
            if (Files.isDirectory(p)) {
                w.dir(name, 0755);
            } else {
                boolean exec = Files.getPosixFilePermissions(p).contains(PosixFilePermission.OWNER_EXECUTE);
                try (InputStream in = Files.newInputStream(p)) {
                    w.file(name, exec ? 0755 : 0644, Files.size(p), in);
                }
            }
        }
        w.finish();
        return bos.toByteArray();
    }

    private static String sha(byte[] b) {
        return HexFormat.of().formatHex(ParallelHasher.sha256().digest(b));
    }
}
