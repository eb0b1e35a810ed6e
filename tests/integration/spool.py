"""A reader of relayguard's spool (docs/queue.md, "On-disk layout"), written
from the documented format so the tests check the format, not the code:
every complete record of every segment, minus the finished ones (dead/ID),
with state/ID replacing the committed envelope."""
import os
import struct
import zlib

HDR = struct.Struct("<4sIIIQII")  # magic, type, id_len, env_len, data_len, body_crc, header_crc


def read_spool(spool):
    """{id: {"env": {key: value or [..]}, "rcpts": [...], "data": bytes}}."""
    out = {}
    segdir = os.path.join(spool, "seg")
    if not os.path.isdir(segdir):
        return out
    for name in sorted(os.listdir(segdir)):
        with open(os.path.join(segdir, name), "rb") as f:
            buf = f.read()
        assert buf[:8] == b"RGQSEG01", name
        pos = 8
        while pos + HDR.size <= len(buf):
            magic, typ, id_len, env_len, data_len, body_crc, header_crc = HDR.unpack_from(buf, pos)
            if magic != b"RGQR" or zlib.crc32(buf[pos:pos + 28]) != header_crc:
                break
            body = buf[pos + HDR.size:pos + HDR.size + id_len + env_len + data_len]
            trailer = buf[pos + HDR.size + len(body):pos + HDR.size + len(body) + 8]
            if (len(body) != id_len + env_len + data_len or zlib.crc32(body) != body_crc
                    or trailer != b"RGQE" + struct.pack("<I", body_crc)):
                break
            qid = body[:id_len].decode()
            env = body[id_len:id_len + env_len].decode()
            data = body[id_len + env_len:]
            out[qid] = {"env_text": env, "data": data}
            pos += HDR.size + len(body) + 8
    for qid in list(out):
        if os.path.exists(os.path.join(spool, "dead", qid)):
            del out[qid]
            continue
        st = os.path.join(spool, "state", qid)
        if os.path.exists(st):
            with open(st) as f:
                out[qid]["env_text"] = f.read()
        out[qid].update(parse_env(out[qid]["env_text"]))
    return out


def unescape(v):
    return v.encode().decode("unicode_escape") if "\\x" in v else v


def parse_env(text):
    env, rcpts = {}, []
    for line in text.split("\n"):
        if not line or line in ("end", "rgq-envelope 1"):
            continue
        k, _, v = line.partition(" ")
        v = unescape(v)
        if k == "rcpt":
            rcpts.append({"addr": v})
        elif k.startswith("r."):
            rcpts[-1][k[2:]] = v
        else:
            env[k] = v
    return {"env": env, "rcpts": rcpts}
