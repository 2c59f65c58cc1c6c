package dev.cloister.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;

/** Machine-readable results for {@code --json}: one JSON document on stdout, nothing else there. */
public final class Json {
    private static final ObjectMapper MAPPER =
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).findAndRegisterModules();

    private Json() {}

    /** A fresh, empty JSON object to fill in. */
    public static ObjectNode object() {
        return MAPPER.createObjectNode();
    }

    /** Prints {@code value} (a record, map or JSON tree) as one JSON document. */
    public static void print(PrintWriter out, Object value) {
        try {
            out.println(MAPPER.writeValueAsString(value));
            out.flush();
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot render result as JSON", e);
        }
    }

    /** The shared mapper, for commands that read JSON or YAML input. */
    public static ObjectMapper mapper() {
        return MAPPER;
    }
}
