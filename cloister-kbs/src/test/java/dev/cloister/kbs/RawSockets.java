package dev.cloister.kbs;

import java.io.IOException;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.ArrayList;
import java.util.List;

/** Raw-socket probes shared by the connection-limit tests of the HTTPS API and the Gramine RA-TLS port. */
public final class RawSockets {
    /** The first bytes of a TLS record carrying a ClientHello: a handshake under way that never completes. */
    public static final byte[] HALF_CLIENT_HELLO = {0x16, 0x03, 0x01, 0x02, 0x00};

    private RawSockets() {}

    /** Whether the server has closed this socket, looking for at most {@code millis}. */
    public static boolean closedWithin(Socket s, int millis) throws IOException {
        s.setSoTimeout(millis);
        try {
            return s.getInputStream().read() < 0 || closedWithin(s, millis);
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true;
        }
    }

    /**
     * The sockets among {@code open} that the server closed: waits up to 20 s for the first, then gives each other
     * socket 200 ms more (a cap closes the extra connection on accept, whichever it saw last).
     */
    public static List<Socket> closedAmong(List<Socket> open) throws IOException {
        List<Socket> closed = new ArrayList<>();
        long end = System.nanoTime() + 20_000_000_000L;
        while (closed.isEmpty() && System.nanoTime() < end) {
            for (Socket s : open) {
                if (!closed.contains(s) && closedWithin(s, 20)) {
                    closed.add(s);
                }
            }
        }
        for (Socket s : open) {
            if (!closed.contains(s) && closedWithin(s, 200)) {
                closed.add(s);
            }
        }
        return closed;
    }
}
