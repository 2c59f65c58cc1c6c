package dev.cloister.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;

/**
 * A minimal blocking HTTP/1.1 client over one kept-alive TLS connection, for the load generator only. The JDK's
 * {@code HttpClient} costs the generator about as much CPU per request as the broker spends answering it; on a
 * 2-core machine shared by both, that would measure the client library rather than the broker. This speaks just
 * what the broker's API needs: GET and POST with a JSON body, {@code Content-Length} responses (the broker never
 * answers chunked), and reconnecting when the server closed the connection. Not thread-safe: one per client.
 */
final class LeanHttps implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final URI base;
    private final SSLContext tls;
    private final String hostHeader;
    private SSLSocket socket;
    private InputStream in;
    private OutputStream out;

    LeanHttps(URI base, SSLContext tls) {
        this.base = base;
        this.tls = tls;
        this.hostHeader = base.getHost() + ":" + base.getPort();
    }

    /** An HTTP status and the parsed JSON body. */
    record Response(int status, JsonNode body) {}

    /** Sends one request, reconnecting once if the kept-alive connection turns out to be closed. */
    Response call(String method, String path, byte[] body) throws IOException {
        try {
            if (socket == null) {
                connect();
            }
            return exchange(method, path, body);
        } catch (IOException e) {
            close();
            connect();
            return exchange(method, path, body);
        }
    }

    private void connect() throws IOException {
        SSLSocket s = (SSLSocket) tls.getSocketFactory().createSocket();
        s.setTcpNoDelay(true);
        s.setSoTimeout(30_000);
        s.connect(new InetSocketAddress(base.getHost(), base.getPort()), 10_000);
        s.startHandshake();
        socket = s;
        in = new BufferedInputStream(s.getInputStream(), 16 * 1024);
        out = new BufferedOutputStream(s.getOutputStream(), 16 * 1024);
    }

    private Response exchange(String method, String path, byte[] body) throws IOException {
        StringBuilder h = new StringBuilder(160).append(method).append(' ').append(path).append(" HTTP/1.1\r\nHost: ")
                .append(hostHeader).append("\r\n");
        if (body != null) {
            h.append("Content-Type: application/json\r\nContent-Length: ").append(body.length).append("\r\n");
        }
        out.write(h.append("\r\n").toString().getBytes(StandardCharsets.US_ASCII));
        if (body != null) {
            out.write(body);
        }
        out.flush();
        String status = line();
        if (status == null || !status.startsWith("HTTP/1.1 ") || status.length() < 12) {
            throw new IOException("bad status line: " + status);
        }
        int code = Integer.parseInt(status.substring(9, 12));
        int length = -1;
        boolean close = false;
        String l;
        while ((l = line()) != null && !l.isEmpty()) {
            int colon = l.indexOf(':');
            if (colon < 0) {
                continue;
            }
            String name = l.substring(0, colon).trim();
            String value = l.substring(colon + 1).trim();
            if (name.equalsIgnoreCase("Content-Length")) {
                length = Integer.parseInt(value);
            } else if (name.equalsIgnoreCase("Connection") && value.equalsIgnoreCase("close")) {
                close = true;
            } else if (name.equalsIgnoreCase("Transfer-Encoding")) {
                throw new IOException("unexpected Transfer-Encoding " + value);
            }
        }
        if (l == null || length < 0) {
            throw new IOException("response without Content-Length");
        }
        byte[] b = in.readNBytes(length);
        if (b.length != length) {
            throw new IOException("connection closed in the middle of a response");
        }
        if (close) {
            close();
        }
        return new Response(code, JSON.readTree(b));
    }

    private String line() throws IOException {
        StringBuilder sb = new StringBuilder(64);
        int c;
        while ((c = in.read()) != -1) {
            if (c == '\n') {
                int n = sb.length();
                return n > 0 && sb.charAt(n - 1) == '\r' ? sb.substring(0, n - 1) : sb.toString();
            }
            sb.append((char) c);
        }
        return sb.isEmpty() ? null : sb.toString();
    }

    @Override
    public void close() {
        if (socket != null) {
            try {
                socket.close();
            } catch (IOException ignored) {
                // Dropping a connection that is already broken.
            }
        }
        socket = null;
    }
}
