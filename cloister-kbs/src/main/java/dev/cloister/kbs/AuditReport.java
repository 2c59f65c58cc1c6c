package dev.cloister.kbs;

import java.util.List;

/**
 * The result of checking the audit chain.
 *
 * @param entries how many rows were checked
 * @param problems one line per broken link, naming the sequence number; empty when the chain is intact
 */
public record AuditReport(long entries, List<String> problems) {
    public AuditReport {
        problems = List.copyOf(problems);
    }

    /** True when every row is present, in order, and unaltered. */
    public boolean intact() {
        return problems.isEmpty();
    }
}
