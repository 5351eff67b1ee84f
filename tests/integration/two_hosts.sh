#!/usr/bin/env bash
# Two "hosts": each rank in a network namespace of its own, joined by a veth pair, so that the
# rendezvous (TCPStore at MASTER_ADDR) and Gloo's connections cross a real interface rather than
# loopback. Skipped (exit 77) where namespaces cannot be made (no root, no CAP_SYS_ADMIN, no ip).
source "$(dirname "$0")/lib.sh"

a=pretext-a-$$
b=pretext-b-$$
cleanup() { ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true; }
trap cleanup EXIT
network() {
  ip netns add "$a" && ip netns add "$b" &&
    ip link add "va$$" type veth peer name "vb$$" &&
    ip link set "va$$" netns "$a" && ip link set "vb$$" netns "$b" &&
    ip -n "$a" addr add 10.77.0.1/24 dev "va$$" && ip -n "$b" addr add 10.77.0.2/24 dev "vb$$" &&
    ip -n "$a" link set lo up && ip -n "$b" link set lo up &&
    ip -n "$a" link set "va$$" up && ip -n "$b" link set "vb$$" up
}
if ! command -v ip >/dev/null || ! network 2>setup.err; then
  echo "SKIP: cannot make two network namespaces joined by a veth pair here (needs root, the ip tool" \
    "and veth): $(head -n 1 setup.err 2>/dev/null)"
  exit 77
fi

args=(pretrain --data fashion-mnist --limit 512 --width 8 --batch-size 32 --knn-every 0 --seed 3 --max-steps 6
      --dist-timeout 60 --sync-batch-norm)
ip netns exec "$a" env RANK=0 WORLD_SIZE=2 MASTER_ADDR=10.77.0.1 MASTER_PORT=29511 GLOO_SOCKET_IFNAME="va$$" \
  PRETEXT_LOG_LEVEL=info "$PRETEXT" "${args[@]}" --out host-a >a.log 2>&1 &
rank0=$!
ip netns exec "$b" env RANK=1 WORLD_SIZE=2 MASTER_ADDR=10.77.0.1 MASTER_PORT=29511 GLOO_SOCKET_IFNAME="vb$$" \
  PRETEXT_LOG_LEVEL=info "$PRETEXT" "${args[@]}" --out host-b >b.log 2>&1 || fail "rank 1 failed: $(tail -n 5 b.log)"
wait "$rank0" || fail "rank 0 failed: $(tail -n 5 a.log)"
grep -q "rendezvous 10.77.0.1:29511" b.log || fail "rank 1 did not meet rank 0 at 10.77.0.1: $(tail -n 5 b.log)"
crc_a=$(grep -Eo 'parameters crc32 [0-9a-f]{8}' a.log)
crc_b=$(grep -Eo 'parameters crc32 [0-9a-f]{8}' b.log)
[ -n "$crc_a" ] && [ "$crc_a" = "$crc_b" ] || fail "the hosts' parameters differ: '$crc_a' vs '$crc_b'"
[ -f host-a/last.pt ] && [ ! -e host-b/last.pt ] || fail "only rank 0 writes a checkpoint"
echo "two hosts over a veth pair: ok ($crc_a on both)"
