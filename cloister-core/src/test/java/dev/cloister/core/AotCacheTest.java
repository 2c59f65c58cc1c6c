package dev.cloister.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Stream;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs real JVMs (this JDK) on a jar compiled here: recording, making the cache in the background, starting from it,
 * and starting despite a broken cache, each with the program's own output and exit status untouched.
 */
class AotCacheTest {
    @TempDir Path dir;
    private Path jar;
    private final String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    private static final List<String> FLAGS = List.of("-XX:+UseSerialGC");

    @BeforeEach
    void compileJar() throws IOException {
        Path src = Files.createDirectories(dir.resolve("src"));
        Files.writeString(src.resolve("Hello.java"), """
                public class Hello {
                    public static void main(String[] args) {
                        System.out.println("hello " + new java.util.TreeMap<>(java.util.Map.of("a", 1)));
                        System.exit(7);
                    }
                }
                """);
        Path classes = Files.createDirectories(dir.resolve("classes"));
        int rc = ToolProvider.getSystemJavaCompiler().run(null, null, null, "-d", classes.toString(),
                src.resolve("Hello.java").toString());
        assertThat(rc).isZero();
        jar = dir.resolve("hello.jar");
        Manifest m = new Manifest();
        m.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar), m)) {
            out.putNextEntry(new JarEntry("Hello.class"));
            out.write(Files.readAllBytes(classes.resolve("Hello.class")));
            out.closeEntry();
        }
    }

    private record Ran(int exit, String stdout, String stderr) {}

    private Ran run(AotCache.Use use) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(java));
        cmd.addAll(FLAGS);
        cmd.addAll(use.options());
        cmd.addAll(List.of("-cp", jar.toString(), "Hello"));
        Path out = dir.resolve("out.txt");
        Path err = dir.resolve("err.txt");
        Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        int exit = p.waitFor();
        use.recording().ifPresent(r -> r.createAfterExit(p.pid()));
        return new Ran(exit, Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
    }

    private List<Path> files(Path aot, String glob) throws IOException {
        try (Stream<Path> s = Files.list(aot)) {
            return s.filter(p -> p.getFileName().toString().matches(glob)).toList();
        }
    }

    private Path awaitCache(Path aot) throws Exception {
        Instant until = Instant.now().plus(Duration.ofSeconds(90));
        while (Instant.now().isBefore(until)) {
            List<Path> made = files(aot, "hello-[0-9a-f]{16}\\.aot");
            if (!made.isEmpty() && files(aot, ".*\\.lock").isEmpty()) {
                return made.getFirst();
            }
            Thread.sleep(100);
        }
        throw new AssertionError("no cache made in " + aot + ": " + files(aot, ".*"));
    }

    @Test
    void recordsOnceThenStartsFromTheCacheWithTheProgramsOutputAndStatusUntouched() throws Exception {
        Path aot = dir.resolve("aot");
        AotCache cache = new AotCache(aot, java, jar.toString());

        AotCache.Use first = cache.use("hello", FLAGS);
        assertThat(first.recording()).isPresent();
        assertThat(first.options()).contains("-XX:AOTMode=record");
        // While one JVM records, the others start without a cache rather than record the same thing.
        assertThat(cache.use("hello", FLAGS)).isEqualTo(AotCache.Use.NONE);

        Ran recorded = run(first);
        assertThat(recorded.exit()).isEqualTo(7);
        assertThat(recorded.stdout()).contains("hello {a=1}");
        Path made = awaitCache(aot);
        assertThat(Files.size(made)).isPositive();
        assertThat(files(aot, ".*\\.rec-.*")).isEmpty();

        AotCache.Use second = cache.use("hello", FLAGS);
        assertThat(second.recording()).isEmpty();
        assertThat(second.cache()).contains(made);
        assertThat(second.options()).contains("-XX:AOTCache=" + made);
        Ran cached = run(second);
        assertThat(cached.exit()).isEqualTo(7);
        assertThat(cached.stdout()).isEqualTo("hello {a=1}\n");
        assertThat(cached.stderr()).isEmpty();
    }

    @Test
    void aBrokenCacheCostsSpeedNotTheRun() throws Exception {
        Path aot = Files.createDirectories(dir.resolve("aot"));
        AotCache cache = new AotCache(aot, java, jar.toString());
        AotCache.Use rec = cache.use("hello", FLAGS);
        Path lock = files(aot, ".*\\.lock").getFirst();
        String name = lock.getFileName().toString().replace(".lock", "");
        Files.delete(lock);
        rec.recording().orElseThrow().folder().toFile().delete();
        Files.write(aot.resolve(name + ".aot"), "not a cache".getBytes(StandardCharsets.UTF_8));

        Ran ran = run(cache.use("hello", FLAGS));
        assertThat(ran.exit()).isEqualTo(7);
        assertThat(ran.stdout()).isEqualTo("hello {a=1}\n");
        assertThat(ran.stderr()).isEmpty();
    }

    @Test
    void aRebuiltJarGetsItsOwnCacheAndOptionsTheJvmRefusesWithACacheGetNone() throws Exception {
        Path aot = dir.resolve("aot");
        AotCache cache = new AotCache(aot, java, jar.toString());
        cache.use("hello", FLAGS);
        Files.setLastModifiedTime(jar, FileTime.from(Instant.now().plusSeconds(5)));
        AotCache.Use again = cache.use("hello", FLAGS);
        assertThat(again.recording()).as("a new key, so not blocked by the first recording").isPresent();
        assertThat(files(aot, ".*\\.lock")).hasSize(2);

        assertThat(cache.use("hello", List.of("-Xshare:auto"))).isEqualTo(AotCache.Use.NONE);
        assertThat(cache.use("hello", List.of("-XX:SharedArchiveFile=x.jsa"))).isEqualTo(AotCache.Use.NONE);
    }

    @Test
    void aRecordingWhoseJvmDiedIsRetriedButOneTheJdkCannotUseIsNot() throws Exception {
        Path aot = dir.resolve("aot");
        AotCache cache = new AotCache(aot, java, jar.toString());
        AotCache.Use rec = cache.use("hello", FLAGS);
        // The JVM never ran (killed before its exit): nothing was recorded, so a later JVM records again.
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        rec.recording().orElseThrow().createAfterExit(gone.pid());
        await(() -> files(aot, ".*\\.lock").isEmpty());
        assertThat(files(aot, ".*\\.failed")).isEmpty();

        AotCache.Use again = cache.use("hello", FLAGS);
        assertThat(again.recording()).isPresent();
        Files.writeString(again.recording().get().folder().resolve("classes.aotconf"), "not a record");
        again.recording().get().createAfterExit(gone.pid());
        await(() -> !files(aot, ".*\\.failed").isEmpty());
        assertThat(files(aot, ".*\\.aot")).isEmpty();
        assertThat(cache.use("hello", FLAGS)).isEqualTo(AotCache.Use.NONE);
    }

    @FunctionalInterface
    private interface Check {
        boolean holds() throws Exception;
    }

    private static void await(Check c) throws Exception {
        Instant until = Instant.now().plus(Duration.ofSeconds(60));
        while (!c.holds()) {
            if (Instant.now().isAfter(until)) {
                throw new AssertionError("condition not reached in 60 s");
            }
            Thread.sleep(50);
        }
    }

    @Test
    void onlyAClassPathOfJarsCanBeCached() {
        // This test JVM runs from class folders, which the JDK cannot cache.
        assertThat(System.getProperty("java.class.path")).contains("classes");
        assertThat(AotCache.forThisJvm()).isEmpty();
    }

}
