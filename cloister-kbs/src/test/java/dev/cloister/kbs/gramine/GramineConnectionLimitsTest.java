package dev.cloister.kbs.gramine;

import dev.cloister.kbs.RawSockets;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.policy.Policies;
import dev.cloister.kbs.ConnectionLimits;
import dev.cloister.kbs.KbsStore;
import dev.cloister.kbs.KeyBroker;
import dev.cloister.kbs.MasterKey;
import dev.cloister.kbs.NonceStore;
import dev.cloister.kbs.SecretKind;
import dev.cloister.kbs.TestSupport;
import dev.cloister.kbs.Tls;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Raw TCP clients against the Gramine RA-TLS port: it has the HTTPS API's connection limits (see
 * {@code ConnectionLimitsTest}). Before, its own accept loop had no per-address cap, and only a 30 s read timeout, which
 * a client trickling a ClientHello a byte at a time never hits.
 */
class GramineConnectionLimitsTest {
    @TempDir Path dir;
    private KbsStore store;
    private SecretProvisioningServer server;
    private X509Certificate serverCert;
    private final byte[] key = HexFormat.of().parseHex("00112233445566778899aabbccddeeff");
    private final Instant now = Instant.now();
    private final Map<String, byte[]> collaterals = new ConcurrentHashMap<>();
    private final List<Socket> sockets = new ArrayList<>();

    private void start(int perAddress, Duration handshakeTimeout) throws Exception {
        store = KbsStore.open(dir.resolve("kbs.db").toString(), MasterKey.generate(), Clock.systemUTC());
        store.createNamespace("t", "alice");
        store.storeSecret("t", "alice", "pf", SecretKind.PF_KEY, key, false);
        store.setPolicy("t", "alice", "pf", Policies.parse(TestSupport.allowPolicy()).toText());
        KeyBroker broker = new KeyBroker(store, TestSupport.verifier(), Policies::parse,
                new NonceStore(Duration.ofMinutes(1), 100));
        Tls tls = Tls.selfSigned(now);
        serverCert = tls.chain()[0];
        // A long idle timeout, so that only the handshake timeout or the cap can close a connection during a test.
        server = SecretProvisioningServer.start(broker, TestSupport.verifier(),
                q -> collaterals.get(Base64.getEncoder().encodeToString(q)), new InetSocketAddress("127.0.0.1", 0),
                tls, "alice", "pf", new ConnectionLimits(perAddress, handshakeTimeout, Duration.ofMinutes(5)));
    }

    @AfterEach
    void stop() throws IOException {
        for (Socket s : sockets) {
            s.close();
        }
        if (server != null) {
            server.close();
            store.close();
        }
    }

    private Socket connect(String from) throws IOException {
        Socket s = new Socket();
        s.bind(new InetSocketAddress(from, 0));
        s.connect(server.address());
        sockets.add(s);
        return s;
    }

    private byte[] provision(String from) throws Exception {
        GramineClient c = new GramineClient(rd -> {
            byte[][] e = TestSupport.quote(TestSupport.good(), rd, TcbStatus.UP_TO_DATE, now);
            collaterals.put(Base64.getEncoder().encodeToString(e[0]), e[1]);
            return e[0];
        }, true, true);
        return c.provision(server.address(), serverCert, from);
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

    @Test
    void oneAddressHoldsAtMostItsShareOfConnections() throws Exception {
        start(4, Duration.ofMinutes(5)); // only the cap can close a connection here
        List<Socket> mine = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            Socket s = connect("127.0.0.1");
            // Half a ClientHello: the handshake is under way, and each socket wants to hold its place.
            s.getOutputStream().write(RawSockets.HALF_CLIENT_HELLO);
            mine.add(s);
        }
        // The fifth is closed on accept; four stay open.
        List<Socket> closed = RawSockets.closedAmong(mine);
        assertThat(closed).hasSize(1);
        // Another address is served meanwhile.
        assertThat(provision("127.0.0.2")).isEqualTo(key);
        // Places are given back when connections close.
        for (Socket s : mine) {
            s.close();
        }
        byte[] got = null;
        long end = System.nanoTime() + 20_000_000_000L;
        while (got == null && System.nanoTime() < end) {
            try {
                got = provision("127.0.0.1");
            } catch (IOException e) {
                Thread.sleep(50);
            }
        }
        assertThat(got).isEqualTo(key);
    }

    @Test
    void handshakesThatDoNotFinishAreClosed() throws Exception {
        start(256, Duration.ofSeconds(1));
        Socket silent = connect("127.0.0.3");
        Socket half = connect("127.0.0.3");
        half.getOutputStream().write(new byte[] {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, (byte) 0xfc, 0x03});
        half.getOutputStream().flush();
        // Closed by the 1 s handshake timeout (the idle timeout is 5 minutes).
        assertThat(closedByServer(silent)).isTrue();
        assertThat(closedByServer(half)).isTrue();
        // A client that finishes its handshake is served as before.
        assertThat(provision("127.0.0.3")).isEqualTo(key);
    }
}
