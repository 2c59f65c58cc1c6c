package dev.cloister.runtime.repo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.core.CloisterException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/** The same behaviour from the folder repository and from a real S3-compatible server. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RepositoryContractTest {
    Path tmp;
    S3ProxyServer s3;
    Repository local;
    Repository remote;
    Path s3Data;

    @BeforeAll
    void start(@TempDir Path dir) throws Exception {
        tmp = dir;
        s3 = S3ProxyServer.start(Files.createDirectories(tmp.resolve("s3")));
        s3Data = tmp.resolve("s3").resolve("s3data");
        try (S3Client admin = S3Client.builder().httpClientBuilder(UrlConnectionHttpClient.builder())
                .endpointOverride(s3.endpoint).forcePathStyle(true).region(Region.US_EAST_1)
                .credentialsProvider(S3ProxyServer.credentials()).build()) {
            admin.createBucket(b -> b.bucket("cloister"));
        }
        local = LocalRepository.open(tmp.resolve("local"));
        remote = S3Repository.open(s3.endpoint, "us-east-1", "cloister", "team/a", S3ProxyServer.credentials());
    }

    @AfterAll
    void stop() throws Exception {
        remote.close();
        s3.close();
    }

    Stream<String> kinds() {
        return Stream.of("local", "s3");
    }

    Repository repo(String kind) {
        return kind.equals("local") ? local : remote;
    }

    @ParameterizedTest
    @MethodSource("kinds")
    void roundTripsFilesAndBytesByContentHash(String kind) throws Exception {
        Repository r = repo(kind);
        byte[] data = new byte[300_000];
        new Random(42).nextBytes(data);
        Path f = tmp.resolve(kind + "-in.bin");
        Files.write(f, data);
        ObjectId id = r.put(f);
        assertThat(id).isEqualTo(ObjectId.of(data));
        assertThat(r.put(data)).isEqualTo(id);
        assertThat(r.exists(id)).isTrue();
        Path out = tmp.resolve(kind + "-out.bin");
        r.get(id, out);
        assertThat(Files.readAllBytes(out)).isEqualTo(data);
        assertThat(r.getBytes(id)).isEqualTo(data);
    }

    @ParameterizedTest
    @MethodSource("kinds")
    void missingObjectIsBadInputAndWritesNothing(String kind) {
        Repository r = repo(kind);
        ObjectId id = ObjectId.of("never stored".getBytes(StandardCharsets.UTF_8));
        Path out = tmp.resolve(kind + "-missing.bin");
        assertThatThrownBy(() -> r.get(id, out))
                .isInstanceOfSatisfying(CloisterException.class,
                        e -> assertThat(e.kind()).isEqualTo(CloisterException.Kind.BAD_INPUT))
                .hasMessageContaining(id.toString()).hasMessageContaining("is not in repository");
        assertThat(out).doesNotExist();
    }

    @ParameterizedTest
    @MethodSource("kinds")
    void refsAreReplacedWhole(String kind) throws Exception {
        Repository r = repo(kind);
        assertThat(r.getRef("jobs/j1/job.json")).isEmpty();
        r.putRef("jobs/j1/job.json", "{\"v\":1}".getBytes(StandardCharsets.UTF_8));
        r.putRef("jobs/j1/job.json", "{\"v\":2}".getBytes(StandardCharsets.UTF_8));
        assertThat(new String(r.getRef("jobs/j1/job.json").orElseThrow(), StandardCharsets.UTF_8)).isEqualTo("{\"v\":2}");
        assertThatThrownBy(() -> r.putRef("../escape", new byte[0])).isInstanceOf(CloisterException.class)
                .hasMessageContaining("bad reference name");
    }

    @ParameterizedTest
    @MethodSource("kinds")
    void tamperedObjectIsDeniedAndNothingIsWritten(String kind) throws Exception {
        Repository r = repo(kind);
        byte[] data = ("payload for " + kind).getBytes(StandardCharsets.UTF_8);
        ObjectId id = r.put(data);
        // Corrupt the stored bytes behind the repository's back, where each store keeps them.
        Path stored;
        if (kind.equals("local")) {
            stored = tmp.resolve("local/objects/sha256").resolve(id.hex().substring(0, 2)).resolve(id.hex().substring(2));
        } else {
            try (var s = Files.walk(s3Data)) {
                stored = s.filter(p -> p.getFileName().toString().equals(id.hex())).findFirst().orElseThrow();
            }
        }
        byte[] bad = Files.readAllBytes(stored);
        bad[0] ^= 1;
        Files.write(stored, bad);
        Path out = tmp.resolve(kind + "-tampered.bin");
        assertThatThrownBy(() -> r.get(id, out))
                .isInstanceOfSatisfying(CloisterException.class,
                        e -> assertThat(e.kind()).isEqualTo(CloisterException.Kind.DENIED))
                .hasMessageContaining("does not match its hash");
        assertThat(out).doesNotExist();
    }

    @org.junit.jupiter.api.Test
    void unreachableS3IsAnEnvironmentError() throws Exception {
        try (Repository dead = S3Repository.open(java.net.URI.create("http://127.0.0.1:9"), "us-east-1", "b", "",
                S3ProxyServer.credentials())) {
            assertThatThrownBy(() -> dead.exists(ObjectId.of(new byte[0])))
                    .isInstanceOfSatisfying(CloisterException.class,
                            e -> assertThat(e.kind()).isEqualTo(CloisterException.Kind.ENVIRONMENT))
                    .hasMessageContaining("unreachable");
        }
    }

    @org.junit.jupiter.api.Test
    void locationsParse() throws Exception {
        assertThat(Repositories.open(tmp.resolve("r1").toString())).isInstanceOf(LocalRepository.class);
        assertThat(Repositories.open(tmp.resolve("r2").toUri().toString())).isInstanceOf(LocalRepository.class);
        assertThatThrownBy(() -> Repositories.open("ftp://x/y")).hasMessageContaining("unsupported repository");
        assertThatThrownBy(() -> Repositories.open("s3:///nobucket")).hasMessageContaining("names no bucket");
        assertThatThrownBy(() -> ObjectId.parse("sha256:xyz")).hasMessageContaining("not an object id");
    }
}
