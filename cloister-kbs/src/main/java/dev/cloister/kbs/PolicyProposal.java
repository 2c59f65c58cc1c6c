package dev.cloister.kbs;

import java.util.List;

/**
 * A policy change waiting for approvals, in a namespace whose rules require more than one.
 *
 * @param id the proposal's id
 * @param namespace the namespace
 * @param name the secret whose policy it changes
 * @param text the proposed policy (canonical text)
 * @param state {@code pending} or {@code applied}
 * @param approvers ids of the tokens that approved it (the proposer first), revoked ones not counted
 * @param required approvals the namespace requires
 */
public record PolicyProposal(String id, String namespace, String name, String text, String state,
        List<String> approvers, int required) {

    /** Copies the list. */
    public PolicyProposal {
        approvers = List.copyOf(approvers);
    }

    /** Whether the change has taken effect. */
    public boolean applied() {
        return state.equals("applied");
    }
}
