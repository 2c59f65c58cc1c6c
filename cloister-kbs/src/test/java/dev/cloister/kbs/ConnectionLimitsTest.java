package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cloister.attestation.policy.Policies;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Raw TCP clients against the broker: a client address holds at most its share of connections, and a TLS handshake
 * that does not finish is closed. (On the JDK server, connections that sent nothing or half a ClientHello stayed
 * open until its request timer, with no bound on how many one address could hold.)
 */
class ConnectionLimitsTest {
    @TempDir Path dir;
    private KbsStore store;
    private KbsServer server;
    private SSLContext client;
    private final List<Socket> sockets = new ArrayList<>();

    private void start(Duration handshakeTimeout) throws Exception {
        store = KbsStore.open(dir.resolve("kbs.db").toString(), MasterKey.generate(), java.time.Clock.systemUTC());
        KeyBroker broker = new KeyBroker(store, TestSupport.verifier(), Policies::parse,
                new NonceStore(Duration.ofMinutes(2), 1000));
        Tls tls = Tls.selfSigned(Instant.now());
        // A long idle timeout, so that only the handshake timeout can close a connection during a test.
        server = KbsServer.start(broker, new InetSocketAddress("127.0.0.1", 0), tls, 0,
                new ConnectionLimits(8, handshakeTimeout, Duration.ofMinutes(5)));
        client = Tls.clientContextTrusting(tls.chain()[0]);
    }

    @AfterEach
    void stop() throws IOException {
        for (Socket s : sockets) {
            s.close();
        }
        server.close();
        store.close();
    }

    private Socket connect(String from) throws IOException {
        Socket s = new Socket();
        s.bind(new InetSocketAddress(from, 0));
        s.connect(server.address());
        sockets.add(s);
        return s;
    }

    /** Whether the server closes the connection (end of stream, or a reset) within 20 s. */
    private static boolean closedByServer(Socket s) throws IOException {
        s.setSoTimeout(20_000);
        try {
            while (s.getInputStream().read() >= 0) {
                // a TLS alert may come first
            }
            return true;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true; // reset
        }
    }

    private int health(String from) throws IOException {
        Socket raw = connect(from);
        try (SSLSocket s = (SSLSocket) client.getSocketFactory().createSocket(raw, "127.0.0.1",
                server.address().getPort(), true)) {
            s.setSoTimeout(20_000);
            s.getOutputStream().write("GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            return Integer.parseInt(answer.substring(9, 12));
        }
    }

    @Test
    void oneAddressHoldsAtMostItsShareOfConnections() throws Exception {
        start(Duration.ofMinutes(5)); // only the cap can close a connection here
        List<Socket> mine = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            Socket s = connect("127.0.0.1");
            // Half a ClientHello: the handshake is under way, and each socket wants to hold its place.
            s.getOutputStream().write(RawSockets.HALF_CLIENT_HELLO);
            mine.add(s);
        }
        // One of the nine (whichever the server saw last) is closed on accept; eight stay open.
        List<Socket> closed = RawSockets.closedAmong(mine);
        assertThat(closed).hasSize(1);
        // Another address is served meanwhile.
        assertThat(health("127.0.0.2")).isEqualTo(200);
        // Places are given back when connections close.
        for (Socket s : mine) {
            s.close();
        }
        int status = 0;
        long end = System.nanoTime() + 20_000_000_000L;
        while (status != 200 && System.nanoTime() < end) {
            try {
                status = health("127.0.0.1");
            } catch (IOException e) {
                Thread.sleep(50);
            }
        }
        assertThat(status).isEqualTo(200);
    }

    @Test
    void handshakesThatDoNotFinishAreClosed() throws Exception {
        start(Duration.ofSeconds(1));
        Socket silent = connect("127.0.0.3");
        Socket half = connect("127.0.0.3");
        half.getOutputStream().write(new byte[] {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, (byte) 0xfc, 0x03});
        half.getOutputStream().flush();
        // Closed by the 1 s handshake timeout (the idle timeout is 5 minutes).
        assertThat(closedByServer(silent)).isTrue();
        assertThat(closedByServer(half)).isTrue();
        // A finished handshake is not affected: one kept-alive connection outlives the handshake timeout.
        try (SSLSocket s = (SSLSocket) client.getSocketFactory().createSocket("127.0.0.1",
                server.address().getPort())) {
            s.startHandshake();
            Thread.sleep(1500);
            s.getOutputStream().write("GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            assertThat(new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII))
                    .startsWith("HTTP/1.1 200");
        }
    }
}
