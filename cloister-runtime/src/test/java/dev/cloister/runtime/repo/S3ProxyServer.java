package dev.cloister.runtime.repo;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;

/**
 * A real S3-compatible server for tests: s3proxy (Apache-2.0, from Maven Central) started as a separate
 * process on a loopback port, storing objects in a temporary folder. The build copies its jar into
 * target/s3proxy.
 */
public final class S3ProxyServer implements AutoCloseable {
    public static final String IDENTITY = "cloister-test";
    static final String CREDENTIAL = "cloister-test-secret";

    private final Process process;
    public final URI endpoint;

    private S3ProxyServer(Process process, URI endpoint) {
        this.process = process;
        this.endpoint = endpoint;
    }

    public static S3ProxyServer start(Path workDir) throws IOException, InterruptedException {
        // The free port is found by binding and releasing it, so another process can take it before s3proxy binds
        // it; s3proxy then exits, and a fresh port is tried.
        IOException last = null;
        for (int attempt = 0; attempt < 3; attempt++) {
            try {
                return startOnce(workDir);
            } catch (IOException e) {
                last = e;
            }
        }
        throw last;
    }

    private static S3ProxyServer startOnce(Path workDir) throws IOException, InterruptedException {
        Path jar;
        try (var s = Files.list(Path.of("target", "s3proxy"))) {
            jar = s.filter(p -> p.getFileName().toString().endsWith(".jar")).findFirst()
                    .orElseThrow(() -> new IOException("s3proxy jar missing from target/s3proxy; run through Maven"));
        }
        int port;
        try (ServerSocket ss = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = ss.getLocalPort();
        }
        Path data = Files.createDirectories(workDir.resolve("s3data"));
        Path props = workDir.resolve("s3proxy.properties");
        Files.writeString(props, String.join("\n",
                "s3proxy.endpoint=http://127.0.0.1:" + port,
                "s3proxy.authorization=aws-v2-or-v4",
                "s3proxy.identity=" + IDENTITY,
                "s3proxy.credential=" + CREDENTIAL,
                "jclouds.provider=filesystem",
                "jclouds.filesystem.basedir=" + data,
                ""));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(List.of(java, "-Xmx256m", "-jar", jar.toString(), "--properties", props.toString()))
                .redirectErrorStream(true)
                .redirectOutput(workDir.resolve("s3proxy.log").toFile())
                .start();
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) {
                throw new IOException("s3proxy exited: " + Files.readString(workDir.resolve("s3proxy.log")));
            }
            if (listening(port) && p.isAlive()) {
                // Alive after the port answered: the port is s3proxy's, not another process's that took it.
                return new S3ProxyServer(p, URI.create("http://127.0.0.1:" + port));
            }
            Thread.sleep(100);
        }
        p.destroyForcibly();
        p.waitFor();
        throw new IOException("s3proxy did not start within 60 s");
    }

    private static boolean listening(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 200);
            return true;
        } catch (IOException notYet) {
            return false;
        }
    }

    public static StaticCredentialsProvider credentials() {
        return StaticCredentialsProvider.create(AwsBasicCredentials.create(IDENTITY, CREDENTIAL));
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor();
        }
    }
}
