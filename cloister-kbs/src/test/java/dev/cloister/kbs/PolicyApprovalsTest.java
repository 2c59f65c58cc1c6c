package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Multi-party control: in a namespace that requires K approvals, a policy change waits for K distinct tokens. */
class PolicyApprovalsTest {
    @TempDir Path tmp;

    @Test
    void aPolicyChangeTakesEffectOnlyWithTheRequiredApprovalsOfDistinctLiveTokens() throws Exception {
        try (LocalBroker broker = LocalBroker.start(tmp.resolve("b"), "lab")) {
            KbsClient admin = client(broker, broker.store().createToken("local:test", Role.ADMIN, null).token());
            KbsClient alice = broker.owner();
            JsonNode bobToken = admin.createToken(Role.OWNER, "lab");
            KbsClient bob = client(broker, bobToken.get("token").asText());
            KbsClient carol = client(broker, admin.createToken(Role.OWNER, "lab").get("token").asText());
            alice.storeSecret("lab", "k", SecretKind.AES256, new byte[32], false);

            assertThatThrownBy(() -> alice.setPolicyApprovals("lab", 2)).isInstanceOf(KbsException.class);
            assertThatThrownBy(() -> admin.setPolicyApprovals("lab", 0)).isInstanceOf(KbsException.class)
                    .hasMessageContaining("1..16");
            admin.setPolicyApprovals("lab", 2);

            JsonNode p = alice.proposePolicy("lab", "k", "SIM:ALLOW");
            assertThat(p.get("state").asText()).isEqualTo("pending");
            assertThat(p.get("required").asInt()).isEqualTo(2);
            assertThat(p.get("approvers")).hasSize(1);
            String id = p.get("proposal").asText();
            // Not in force yet: the secret still has no policy, so nothing would be released.
            assertThatThrownBy(() -> alice.policy("lab", "k")).hasMessageContaining("no policy for lab/k");
            assertThat(alice.proposals("lab")).hasSize(1);
            assertThatThrownBy(() -> alice.approvePolicy("lab", id)).isInstanceOf(KbsException.class)
                    .hasMessageContaining("approved proposal " + id + " already");

            JsonNode done = bob.approvePolicy("lab", id);
            assertThat(done.get("state").asText()).isEqualTo("applied");
            assertThat(alice.policy("lab", "k")).isEqualTo(p.get("policy").asText()).contains("SIM:ALLOW");
            assertThat(alice.proposals("lab")).isEmpty();
            assertThatThrownBy(() -> carol.approvePolicy("lab", id)).hasMessageContaining("applied already");

            // An approval from a token revoked since does not count.
            JsonNode second = alice.proposePolicy("lab", "k", "SIM:ALLOW TCB:UpToDate,SWHardeningNeeded");
            String id2 = second.get("proposal").asText();
            admin.revokeToken(broker.store().authenticate(broker.ownerToken()).tokenId());
            JsonNode half = bob.approvePolicy("lab", id2);
            assertThat(half.get("state").asText()).isEqualTo("pending");
            assertThat(half.get("approvers")).hasSize(1);
            assertThat(carol.approvePolicy("lab", id2).get("state").asText()).isEqualTo("applied");
            assertThat(bob.policy("lab", "k")).isEqualTo(second.get("policy").asText()).contains("SWHardeningNeeded");

            // Every step is in the audit log, the policy change naming its approvers.
            List<String> actions = broker.store().audit("lab", 0, 100).stream()
                    .map(e -> e.action() + " " + e.outcome()).toList();
            assertThat(actions).containsSubsequence("namespace.rules ok", "policy.propose ok", "policy.approve ok",
                    "policy.set ok", "policy.propose ok", "policy.approve ok", "policy.approve ok", "policy.set ok");
            assertThat(broker.store().audit("lab", 0, 100).stream().filter(e -> e.action().equals("policy.set"))
                    .map(AuditEntry::detail)).allMatch(d -> d.contains("approved by token:"));
            // Another namespace's owner cannot approve, nor see the proposals.
            admin.createNamespace("other");
            KbsClient mallory = client(broker, admin.createToken(Role.OWNER, "other").get("token").asText());
            String id3 = bob.proposePolicy("lab", "k", "SIM:ALLOW").get("proposal").asText();
            assertThatThrownBy(() -> mallory.approvePolicy("lab", id3)).isInstanceOf(KbsException.class);
            assertThatThrownBy(() -> mallory.proposals("lab")).isInstanceOf(KbsException.class);
            assertThatThrownBy(() -> carol.approvePolicy("lab", "0000000000000000"))
                    .hasMessageContaining("no proposal 0000000000000000 in lab");
        }
    }

    static List<String> dbs() {
        return TestDatabases.kinds();
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("dbs")
    void theStoreAppliesAProposalAtTheThresholdOnEachDatabase(String kind) throws Exception {
        String db = TestDatabases.fresh(kind, tmp);
        try (KbsStore s = KbsStore.open(db, MasterKey.generate(), java.time.Clock.systemUTC())) {
            s.createNamespace("t", "lab");
            String a = s.createToken("t", Role.OWNER, "lab").id();
            String b = s.createToken("t", Role.OWNER, "lab").id();
            String c = s.createToken("t", Role.OWNER, "lab").id();
            s.setPolicyApprovals("t", "lab", 3);
            assertThat(s.policyApprovals("lab")).isEqualTo(3);
            s.storeSecret("t", "lab", "k", SecretKind.AES256, null, false);
            PolicyProposal p = s.proposePolicy("token:" + a, a, "lab", "k", "SIM:ALLOW");
            // The proposer's and b's approvals can fall in one millisecond, and then sort by token id.
            assertThat(s.approvePolicy("token:" + b, b, "lab", p.id()).approvers()).containsExactlyInAnyOrder(a, b);
            assertThat(s.policy("lab", "k")).isNull();
            assertThat(s.approvePolicy("token:" + c, c, "lab", p.id()).applied()).isTrue();
            assertThat(s.policy("lab", "k")).isEqualTo("SIM:ALLOW");
            s.setPolicyApprovals("t", "lab", 1);
            assertThat(s.proposePolicy("token:" + a, a, "lab", "k", "E:00").applied()).isTrue();
        }
    }

    private static KbsClient client(LocalBroker broker, String token) {
        return new KbsClient(broker.url(), token, broker.clientContext());
    }
}
