"""Rule ``train_qat``: quantisation-aware training (solo or KD) with iterative pruning."""

from __future__ import annotations

import numpy as np

from jetdistill.identity import QATJob, num
from jetdistill.io import write_json
from jetdistill.jobs import context as C
from jetdistill.jobs.context import JobContext
from jetdistill.learn import kd_data
from jetdistill.seeding import seed_everything


def train_qat(ctx: JobContext) -> None:
    """QAT of the Brevitas twin at ``bits``, pruned to ``sparsity`` first when it is > 0,
    with the hardware-cost term of strength ``cost`` (the wildcard; 0: none) added to the
    loss throughout (:class:`jetdistill.compress.precision.CostPenalty`). In mode kd the
    loss is the KD loss, pruning steps and final fine-tune alike.

    Params: ``model`` (the student's spec), ``train`` (training.qat) and ``qat`` (input and
    accumulator widths, ``pruning`` when it prunes, ``kd`` in mode kd, ``kd_targets`` when
    they are not the teacher's; see :func:`jetdistill.plan.qat_settings`). The checkpoint
    describes itself, so the FPGA jobs rebuild the twin from it alone.

    ``input_scaling: per_input``: the twin is trained and tested behind per-input power-of-two
    gains (:func:`jetdistill.compress.quant.fit_input_gain`, stored in the checkpoint, so the
    FPGA jobs feed the chip the same formatted inputs).

    ``kd_targets: float_student`` (mode kd): the KD loss reads the logits of the float KD
    student it fine-tunes from, on the same jets, instead of the teacher's. The float
    student already carries what it could take from the teacher; aiming QAT at its function
    aims the fine-tuning at the compression drop itself (a teacher assistant, Mirzadeh et
    al. 2020). Fidelity metrics stay measured against the teacher."""
    import torch

    from jetdistill.compress import quant
    from jetdistill.compress.cost import cost_metrics
    from jetdistill.compress.precision import CostPenalty, precision_metrics
    from jetdistill.compress.prune import prune_and_retrain
    from jetdistill.learn.models import load_model
    from jetdistill.learn.training import save_checkpoint

    spec, q = ctx.params["model"], ctx.params["qat"]
    job = QATJob.from_wildcards(ctx.wildcards)
    seed, bits, sparsity, mode = job.seed, job.bits, num(job.sparsity), job.mode
    seed_everything(seed)
    train, val, test = (kd_data.load_split(ctx.input[s]) for s in ("transfer", "val", "test"))
    shape, n_classes = tuple(train.X.shape[1:]), len(train.class_names)
    act_bits = q.get("activation_bits")  # None: the point's bits, weights and activations alike
    qmodel = quant.build_quant_model(C.arch(spec), shape, n_classes, bits, int(q["input_bits"]),
                                     bias_bits=int(q["accumulator_bits"]), name=spec.get("name"),
                                     act_bits=act_bits)  # fmt: skip
    # input_scaling per_input: every input gets its own fixed-point range (a power-of-two
    # gain fitted on the labelled transfer jets); the twin trains and is tested behind it
    test_raw, gain = test, None
    if q.get("input_scaling", "tensor") == "per_input":
        gain = quant.fit_input_gain(train.X, per_feature=quant.shares_input_weights(C.arch(spec)))
        train, val, test = (kd_data.with_gain(s, gain) for s in (train, val, test))
    fmodel = None
    if "float_model" in ctx.input:
        fmodel, _ = load_model(ctx.input["float_model"])
        # calibrate activation scales on data so fine-tuning starts from the float accuracy
        quant.load_float_weights(qmodel, fmodel, calib_x=torch.as_tensor(train.X[:2048]),
                                 input_gain=gain)  # fmt: skip
    smoothing = float(ctx.params["train"].get("label_smoothing", 0.0))
    kd = q["kd"] if mode == "kd" else None
    setup = kd_data.kd_setup(kd, train, val, test, targets=C.teacher_targets(ctx, kd),
                             label_smoothing=smoothing)  # fmt: skip
    # mode kd of a run with distillation.unlabelled: the same unlabelled jets as its float KD
    # student (teacher term only), appended after the labelled ones (OBD's batch stays labelled)
    n_labelled = len(train.y)
    train, setup = kd_data.with_unlabelled(kd, train, setup, **C.unlabelled_inputs(ctx, kd),
                                           input_gain=gain)  # fmt: skip
    task_loss, t_train, t_val = setup.loss_fn, setup.t_train, setup.t_val
    kd_targets = q.get("kd_targets", "teacher")
    if kd is not None and kd_targets == "float_student":
        t_train, t_val = kd_data.float_student_targets(fmodel, train, val, input_gain=gain,
                                                       where=f"rule {ctx.rule}")  # fmt: skip
    # built after the float weights and activation scales are in place (one forward pass);
    # at 0 not built at all, so a job without penalty runs exactly what it ran before
    cost = num(job.cost)
    loss_fn = CostPenalty(qmodel, shape, cost).wrap(task_loss) if cost > 0 else task_loss
    name = job.run_name()
    with C.job_run(ctx, name=name, role="student", method=f"qat_{mode}", tags=job.tags()) as run:
        run.log_params({"model": spec, "qat": q, "bits": bits, "sparsity": sparsity,
                        "cost_penalty": cost, "kd_targets": kd_targets if kd else "none",
                        "input_scaling": q.get("input_scaling", "tensor"),
                        "activation_bits": act_bits or bits})  # fmt: skip
        if gain is not None:
            metrics_gain = {"input_gain_log2_max": float(np.log2(gain).max())}
            run.log_metrics(metrics_gain)
            run.log_dict({"input_gain": gain.tolist()}, "input_gain.json")
        history: list[dict] = []
        pruner = None
        if sparsity > 0:
            p = q["pruning"]
            n = min(2048, len(train.y))
            obd_batch = (torch.as_tensor(train.X[:n]), torch.as_tensor(train.y[:n]),
                         None if t_train is None else torch.as_tensor(t_train[:n]), task_loss)  # fmt: skip
            pruner, history = prune_and_retrain(
                qmodel, train.batches(t_train), val.batches(t_val), sparsity=sparsity,
                steps=int(p["steps"]), epochs_per_step=int(p["epochs_per_step"]), scope=p["scope"],
                criterion=p["criterion"], train_cfg=ctx.params["train"], loss_fn=loss_fn, seed=seed,
                saliency_batch=obd_batch,
                on_step=lambda i, s: run.log_metrics({"weight_sparsity": s}, step=i),
            )  # fmt: skip
        result, logits, metrics = C.train_and_eval(
            run, qmodel, train, val, test, train_cfg=ctx.params["train"], loss_fn=loss_fn, seed=seed,
            t_train=t_train, t_val=t_val, step_hook=pruner.apply if pruner else None, label=name,
        )  # fmt: skip
        history.extend(result.history)
        metrics.update(kd_data.fidelity(qmodel, train, logits, setup))
        if fmodel is not None:  # how much of its float student the twin kept
            metrics["float_test_agreement"] = kd_data.float_agreement(fmodel, test_raw, logits)
        metrics.update(cost_metrics(qmodel, shape))
        metrics.update(precision_metrics(qmodel, shape))
        if pruner is not None:
            metrics["weight_sparsity"] = pruner.sparsity()
        run.log_metrics(metrics)
        meta = quant.checkpoint_meta(C.arch(spec), shape, n_classes, bits=bits,
                                     input_bits=int(q["input_bits"]), bias_bits=int(q["accumulator_bits"]),
                                     sparsity=sparsity, name=spec.get("name"), input_gain=gain,
                                     act_bits=act_bits)  # fmt: skip
        run.log_state_dict(qmodel, meta)
        save_checkpoint(qmodel, ctx.output["model"], meta)
        C.write_history(history, ctx.output["history"])
        record = C.result_record(ctx, run, role="student", method=f"qat_{mode}", metrics=metrics,
                                 extra={**job.record(), "n_train": len(train.y),
                                        "n_unlabelled": len(train.y) - n_labelled})  # fmt: skip
        write_json(ctx.output["metrics"], record)
