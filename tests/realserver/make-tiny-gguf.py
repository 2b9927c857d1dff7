#!/usr/bin/env python3
"""Writes a tiny random-weight llama model as a GGUF file, for testing against a real
llama-server (tests/realserver/realserver.sh).

    make-tiny-gguf.py --gguf-py DIR OUT.gguf

DIR is the gguf-py directory of the llama.cpp source that built the server
(build-llama.sh keeps it in its cache). The file is the same byte for byte on every
call: the weights come from a fixed numpy seed and nothing else varies.

The model: architecture "llama", 2 layers, n_embd 64, 4 heads, n_ff 128, F32 weights,
context 2048. Its vocabulary is SentencePiece-style, as convert_hf_to_gguf.py writes a
llama tokenizer.model: <unk> <s> </s>, the ChatML markers <|im_start|> <|im_end|>
(control tokens, so chat prompts tokenize as in a real chat model and <|im_end|> ends
a turn), the 256 byte tokens <0x00>..<0xFF>, then a few thousand ASCII pieces with
scores ("\u2581" stands for a space, as in SentencePiece). Random weights make the
texts gibberish, but every part of the server's pipeline runs as for a real model.
"""

import argparse
import itertools
import sys

import numpy as np

N_LAYER = 2
N_EMBD = 64
N_HEAD = 4
N_FF = 128
N_CTX = 2048
SEED = 20261203

CHATML = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

WORDS = """the of and to in is was for on that with as by it at from his an were are
which this be or has had not but first one their its new after who they have her she
two been other when there all during into school time may years more most only over
city some world would where later up such used many can state about national out
known university united then made team river quantile sample model server token
utility random number text write haiku poem about rivers mountain light water stone
tree cloud wind rain snow fire earth night day sun moon star sea sky bird fish""".split()


def vocabulary():
    """Returns (tokens, scores, types) in id order."""
    from gguf import TokenType

    tokens = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL, TokenType.CONTROL,
             TokenType.CONTROL]
    scores = [0.0] * len(tokens)
    for b in range(256):
        tokens.append("<0x%02X>" % b)
        types.append(TokenType.BYTE)
        scores.append(0.0)

    # Pieces, most likely first (SentencePiece scores are log-probabilities: the
    # tokenizer prefers higher scores). Whole words, then single characters, then
    # letter pairs with and without a leading space.
    letters = "abcdefghijklmnopqrstuvwxyz"
    printable = [chr(c) for c in range(33, 127)]
    pieces = ["\u2581"]
    pieces += ["\u2581" + w for w in WORDS] + WORDS
    pieces += printable + ["\u2581" + c for c in printable]
    pieces += ["".join(p) for p in itertools.product(letters, repeat=2)]
    pieces += ["\u2581" + "".join(p) for p in itertools.product(letters, repeat=2)]
    pieces += [a.upper() + b for a, b in itertools.product(letters, repeat=2)]
    pieces += ["\u2581" + a.upper() + b for a, b in itertools.product(letters, repeat=2)]
    pieces += ["\u2581" + s for s in ("\n", "\n\n", "\t")] + ["\n", "\n\n", "\t", "  "]
    seen = set(tokens)
    for rank, piece in enumerate(pieces):
        if piece in seen:
            continue
        seen.add(piece)
        tokens.append(piece)
        types.append(TokenType.NORMAL)
        scores.append(-float(rank) / 100.0)
    return tokens, scores, types


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gguf-py", required=True, help="the bundle's gguf-py directory")
    parser.add_argument("out", help="the GGUF file to write")
    args = parser.parse_args()
    sys.path.insert(0, args.gguf_py)
    import gguf

    tokens, scores, types = vocabulary()
    n_vocab = len(tokens)
    rng = np.random.default_rng(SEED)

    def weight(*shape, std=0.08):
        # numpy shape (rows, cols) = HF's (out_features, in_features); gguf-py stores
        # it reversed, as ggml's ne = [in, out].
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def ones(n):
        return np.ones(n, dtype=np.float32)

    writer = gguf.GGUFWriter(args.out, "llama")  # writes general.architecture itself
    writer.add_name("quantilize tiny random llama")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_block_count(N_LAYER)
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(n_vocab)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)

    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_chat_template(CHATML)

    # Output logits spread wider than the other weights so that log-probs differ
    # visibly between tokens.
    writer.add_tensor("token_embd.weight", weight(n_vocab, N_EMBD, std=1.0))
    for i in range(N_LAYER):
        blk = "blk.%d." % i
        writer.add_tensor(blk + "attn_norm.weight", ones(N_EMBD))
        writer.add_tensor(blk + "attn_q.weight", weight(N_EMBD, N_EMBD))
        writer.add_tensor(blk + "attn_k.weight", weight(N_EMBD, N_EMBD))
        writer.add_tensor(blk + "attn_v.weight", weight(N_EMBD, N_EMBD))
        writer.add_tensor(blk + "attn_output.weight", weight(N_EMBD, N_EMBD))
        writer.add_tensor(blk + "ffn_norm.weight", ones(N_EMBD))
        writer.add_tensor(blk + "ffn_gate.weight", weight(N_FF, N_EMBD))
        writer.add_tensor(blk + "ffn_up.weight", weight(N_FF, N_EMBD))
        writer.add_tensor(blk + "ffn_down.weight", weight(N_EMBD, N_FF))
    writer.add_tensor("output_norm.weight", ones(N_EMBD))
    writer.add_tensor("output.weight", weight(n_vocab, N_EMBD, std=0.3))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main()
