package dev.cloister.kbs;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import javax.net.ssl.SSLContext;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.io.ssl.SslConnection;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The broker's HTTPS transport (Jetty's core server, no servlets), apart from the API's routing in
 * {@link KbsServer}. It exists for what the JDK's server could not do: it owns {@code accept()}, so that each client
 * address may hold at most {@link ConnectionLimits#connectionsPerAddress} connections (one client cannot use up the
 * broker's file descriptors), a TLS handshake not finished within {@link ConnectionLimits#handshakeTimeout} is closed, and
 * every error it writes itself (unparseable requests, bad URIs) is the API's JSON error body.
 */
final class HttpsTransport implements AutoCloseable {
    /** One request and what to answer. */
    static final class Exchange {
        final String method;
        final String rawPath;
        final String rawQuery;
        final String peer;
        private final Request request;
        final Map<String, String> responseHeaders = new LinkedHashMap<>();

        Exchange(Request request) {
            this.request = request;
            this.method = request.getMethod();
            this.rawPath = request.getHttpURI().getPath() == null ? "/" : request.getHttpURI().getPath();
            this.rawQuery = request.getHttpURI().getQuery();
            this.peer = Request.getRemoteAddr(request);
        }

        String header(String name) {
            return request.getHeaders().get(name);
        }

        InputStream body() {
            return Content.Source.asInputStream(request);
        }
    }

    /** Answers one exchange: status, content type and body. */
    record Answer(int status, String contentType, byte[] body) {}

    /** The API behind the transport. */
    @FunctionalInterface
    interface Api {
        Answer handle(Exchange x) throws IOException;
    }

    private final Server server;
    private final ServerConnector connector;
    private final ConnectionCounter counter;
    final LongAdder refused = new LongAdder();
    final LongAdder handshakeTimeouts = new LongAdder();

    private HttpsTransport(Server server, ServerConnector connector, ConnectionLimits limits) {
        this.server = server;
        this.connector = connector;
        this.counter = new ConnectionCounter(limits);
    }

    static HttpsTransport start(InetSocketAddress listen, SSLContext tls, ConnectionLimits limits, Api api) throws IOException {
        QueuedThreadPool pool = new QueuedThreadPool(64, 4);
        pool.setName("kbs-http");
        // Requests block on JDBC and on the audit commit: one virtual thread each, as before.
        pool.setVirtualThreadsExecutor(Executors.newVirtualThreadPerTaskExecutor());
        Server server = new Server(pool);
        HttpConfiguration hc = new HttpConfiguration();
        hc.setSendServerVersion(false);
        hc.setSendXPoweredBy(false);
        hc.setRequestHeaderSize(16 * 1024);
        hc.setIdleTimeout(limits.idleTimeout().toMillis());
        // A request body trickled in slower than this is abandoned (what the JDK server's maxReqTime bounded).
        hc.setMinRequestDataRate(1024);
        // Clients reach the broker by IP address as often as by name, and the certificate names localhost: no check
        // of the Host header against SNI (a client's TLS layer checks the certificate).
        org.eclipse.jetty.server.SecureRequestCustomizer src = new org.eclipse.jetty.server.SecureRequestCustomizer();
        src.setSniHostCheck(false);
        src.setSniRequired(false);
        hc.addCustomizer(src);
        SslContextFactory.Server ssl = new SslContextFactory.Server();
        ssl.setSslContext(tls);
        ServerConnector c = new ServerConnector(server, ssl, new HttpConnectionFactory(hc));
        c.setHost(listen.getAddress() == null ? listen.getHostString() : listen.getAddress().getHostAddress());
        c.setPort(listen.getPort());
        c.setIdleTimeout(limits.idleTimeout().toMillis());
        c.setAcceptQueueSize(1024);
        HttpsTransport t = new HttpsTransport(server, c, limits);
        c.addBean(t.new Guard(limits));
        server.addConnector(c);
        server.setErrorHandler(new JsonErrors());
        server.setHandler(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                Exchange x = new Exchange(request);
                Answer a = api.handle(x);
                respond(response, a.status(), a.contentType(), a.body(), callback, x.responseHeaders);
                return true;
            }
        });
        try {
            server.start();
        } catch (IOException e) {
            stopQuietly(server);
            throw e;
        } catch (Exception e) {
            stopQuietly(server);
            throw new IOException("cannot start the HTTPS server on " + listen + ": " + e.getMessage(), e);
        }
        return t;
    }

    /** Counts connections per address, closes those over the cap, and times out unfinished handshakes. */
    private final class Guard implements Connection.Listener {
        private final ConnectionLimits limits;

        Guard(ConnectionLimits limits) {
            this.limits = limits;
        }

        @Override
        public void onOpened(Connection connection) {
            if (!(connection instanceof SslConnection ssl)) {
                return; // the HTTP connection inside the TLS one: counted with it
            }
            if (!counter.open(address(connection))) {
                refused.increment();
                connection.getEndPoint().close();
                return;
            }
            connector.getScheduler().schedule(() -> {
                // Until the handshake finishes, the engine's session is the null session.
                if (connection.getEndPoint().isOpen()
                        && "SSL_NULL_WITH_NULL_NULL".equals(ssl.getSSLEngine().getSession().getCipherSuite())) {
                    handshakeTimeouts.increment();
                    connection.getEndPoint().close();
                }
            }, limits.handshakeTimeout().toMillis(), TimeUnit.MILLISECONDS);
        }

        @Override
        public void onClosed(Connection connection) {
            if (!(connection instanceof SslConnection)) {
                return;
            }
            counter.close(address(connection));
        }

        private InetAddress address(Connection connection) {
            SocketAddress s = connection.getEndPoint().getRemoteSocketAddress();
            return s instanceof InetSocketAddress i ? i.getAddress() : InetAddress.getLoopbackAddress();
        }
    }

    /** Jetty's own error answers (bad request line, bad URI, header too large, ...) in the API's JSON form. */
    private static final class JsonErrors extends ErrorHandler {
        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            int status = response.getStatus() >= 400 ? response.getStatus() : 500;
            Object m = request.getAttribute(ERROR_MESSAGE);
            String message = status >= 500 ? "internal error" : m == null ? "bad request" : m.toString();
            String json = "{\"status\":" + status + ",\"error\":" + quote(message) + "}";
            respond(response, status, "application/json", json.getBytes(StandardCharsets.UTF_8), callback, null);
            return true;
        }

        private static String quote(String s) {
            StringBuilder b = new StringBuilder("\"");
            for (char ch : s.toCharArray()) {
                if (ch == '"' || ch == '\\') {
                    b.append('\\').append(ch);
                } else if (ch < 0x20) {
                    b.append(String.format("\\u%04x", (int) ch));
                } else {
                    b.append(ch);
                }
            }
            return b.append('"').toString();
        }
    }

    private static void respond(Response response, int status, String contentType, byte[] body, Callback callback,
            Map<String, String> extra) {
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        if (extra != null) {
            extra.forEach((k, v) -> response.getHeaders().put(k, v));
        }
        response.write(true, ByteBuffer.wrap(body), callback);
    }

    /** Open TLS connections (for metrics). */
    int openConnections() {
        return counter.openConnections();
    }

    /** The bound address, with the actual port. */
    InetSocketAddress address() {
        return new InetSocketAddress(connector.getHost(), connector.getLocalPort());
    }

    @Override
    public void close() {
        stopQuietly(server);
    }

    private static void stopQuietly(Server s) {
        try {
            s.stop();
        } catch (Exception e) {
            // stopping: nothing left to do about it
        }
    }
}
