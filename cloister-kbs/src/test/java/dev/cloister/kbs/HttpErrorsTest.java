package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Client input never gets a 5xx, and every error the broker answers is a JSON body naming the problem. */
class HttpErrorsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir Path tmp;
    private LocalBroker broker;

    @BeforeEach
    void start() throws Exception {
        broker = LocalBroker.start(tmp.resolve("b"), "lab");
    }

    @AfterEach
    void stop() {
        broker.close();
    }

    /** One raw HTTP/1.1 exchange over TLS: status line, headers and body as text. */
    private String raw(String request) throws IOException {
        try (SSLSocket s = (SSLSocket) broker.clientContext().getSocketFactory().createSocket("127.0.0.1",
                broker.url().getPort())) {
            s.setSoTimeout(20_000);
            s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
        }
    }

    private String post(String path, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        return raw("POST " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
                + "Content-Length: " + b.length + "\r\n\r\n" + body);
    }

    private static JsonNode jsonError(String response, int status) throws IOException {
        assertThat(response).startsWith("HTTP/1.1 " + status + " ");
        assertThat(response.toLowerCase(java.util.Locale.ROOT)).contains("content-type: application/json");
        JsonNode n = JSON.readTree(response.substring(response.indexOf("\r\n\r\n") + 4));
        assertThat(n.get("status").asInt()).isEqualTo(status);
        return n;
    }

    @Test
    void deeplyNestedJsonIsABadRequestNotAServerError() throws Exception {
        // Used to be a 500 with a stack trace in the log, without any token.
        assertThat(jsonError(post("/v1/release", "[".repeat(20_000)), 400).get("error").asText())
                .startsWith("malformed JSON").contains("nesting depth");
        assertThat(jsonError(post("/v1/release", "{\"a\":".repeat(200) + "1" + "}".repeat(200)), 400)
                .get("error").asText()).contains("nesting depth");
        assertThat(jsonError(post("/v1/release", "{\"namespace\":\"lab\"} {}"), 400).get("error").asText())
                .contains("content after the request object");
    }

    @Test
    void unknownFieldsAreNamed() throws Exception {
        assertThat(jsonError(post("/v1/release", "{\"namespace\":\"lab\",\"secrte\":\"k\"}"), 400)
                .get("error").asText()).startsWith("unknown field 'secrte'");
        HttpResponse<byte[]> r = broker.owner().send("POST", "/v1/secrets/lab/k",
                "{\"kind\":\"aes256\",\"rotate\":true}".getBytes(StandardCharsets.UTF_8));
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(new String(r.body(), StandardCharsets.UTF_8)).contains("unknown field 'rotate'");
        assertThat(broker.owner().list("lab").get("secrets")).isEmpty();
    }

    @Test
    void requestsThatAreNotHttpGetJsonErrorsToo() throws Exception {
        // The JDK server answered these itself, in text/html, before the broker saw them.
        for (String r : List.of("garbage\r\n\r\n", "GET /v1/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: abc\r\n\r\n",
                "GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) {
            String answer = raw(r);
            assertThat(answer).as(r).startsWith("HTTP/1.1 4");
            assertThat(answer.toLowerCase(java.util.Locale.ROOT)).as(r).contains("content-type: application/json")
                    .doesNotContain("text/html");
            JsonNode n = JSON.readTree(answer.substring(answer.indexOf("\r\n\r\n") + 4));
            assertThat(n.get("status").asInt()).as(r).isBetween(400, 499);
        }
    }

    @Test
    void unknownMethodsAndPathsAnswerJson() throws Exception {
        String foo = raw("FOO /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assertThat(jsonError(foo, 405).get("error").asText()).isEqualTo("method FOO is not allowed");
        assertThat(foo).contains("Allow: GET, POST, PUT, DELETE");
        jsonError(raw("GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 404);
        jsonError(raw("DELETE /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 401);
        HttpClient http = HttpClient.newBuilder().sslContext(broker.clientContext()).build();
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(broker.url().resolve("/v1/nope"))
                .header("Authorization", "Bearer " + broker.ownerToken()).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(404);
        assertThat(r.headers().firstValue("Content-Type").orElseThrow()).isEqualTo("application/json");
    }
}
