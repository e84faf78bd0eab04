(** * A depth-k ReLU network with O(n/k) units per layer that computes EXACTLY the
    two-layer network of Theorem 1 (proofs/depth_k.md, "Implementation recipe").

    Input: the scalar s = <a, x>.  Depth k = L + 2 affine layers:
      layer 1 (sign split):     p = relu(s),  q = relu(-s)                       2 units
      layer l+2, l = 0..L-1     (hidden layer holding group l):
                                carry     p' = relu(p),  q' = relu(q)            (if l < L-1)
                                units     u_j = relu(p - q - b_j),  j in group l
                                accum.    P' = relu(P + sum_{j in group l-1} w_j^+ u_j)  (if l >= 1)
                                          N' = relu(N + sum_{j in group l-1} w_j^- u_j)  (if l >= 1)
      output (linear, no bias): P - N + sum_{j in group L-1} w_j u_j
    with groups [g_l, g_{l+1}) of consecutive neuron indices, g_0 = 0, g_L = n, and
    w^+ = max(w,0), w^- = max(-w,0).  Since p - q = s exactly, every unit is the shallow
    unit relu(s - b_j) with the SAME stored bias; the accumulators only ever receive
    nonnegative numbers, so the ReLUs they pass through are identities.  Hence the deep
    network is the shallow network sum_j w_j relu(s - b_j) at EVERY input, for any weights,
    any biases and any grouping.

    Here [Pacc l] is the accumulator holding groups 0..l-1 (Pacc 0 = 0 needs no unit). *)

Require Import Reals Lra Lia.
Require Import Theorem1.
Open Scope R_scope.

Definition pos (w : R) : R := Rmax w 0.
Definition neg (w : R) : R := Rmax (- w) 0.

Lemma pos_neg : forall w, w = pos w - neg w.
Proof.
  intros w. unfold pos, neg, Rmax.
  destruct (Rle_dec w 0); destruct (Rle_dec (- w) 0); lra.
Qed.

Lemma pos_nonneg : forall w, 0 <= pos w.
Proof. intros. unfold pos. apply Rmax_r. Qed.

Lemma neg_nonneg : forall w, 0 <= neg w.
Proof. intros. unfold neg. apply Rmax_r. Qed.

(** Sum over the index range [lo, hi). *)
Definition sumRange (lo hi : nat) (f : nat -> R) : R := sumR (hi - lo) (fun k => f (lo + k)%nat).

Lemma sumR_split : forall lo hi f, (lo <= hi)%nat ->
  sumR hi f = sumR lo f + sumRange lo hi f.
Proof.
  intros lo hi f H. unfold sumRange. induction hi as [|hi IH].
  - replace lo with 0%nat by lia. simpl. lra.
  - destruct (Nat.eq_dec lo (S hi)) as [->|Hne].
    + rewrite Nat.sub_diag. simpl. lra.
    + replace (S hi - lo)%nat with (S (hi - lo)) by lia. simpl.
      rewrite IH by lia. replace (lo + (hi - lo))%nat with hi by lia. lra.
Qed.

Lemma sumR_nonneg : forall n f, (forall j, (j < n)%nat -> 0 <= f j) -> 0 <= sumR n f.
Proof.
  induction n as [|n IH]; intros f H; simpl; [lra|].
  assert (0 <= sumR n f) by (apply IH; intros; apply H; lia).
  assert (0 <= f n) by (apply H; lia). lra.
Qed.

(** ** The network.  All definitions take the shallow weights [w], the biases [b] and the
    group boundaries [g] explicitly; the number of group layers is L. *)

(** The sign-split copies of s carried by the hidden layer holding group l. *)
Fixpoint carryP (s : R) (l : nat) : R :=
  match l with
  | O => relu s
  | S k => relu (carryP s k)
  end.

Fixpoint carryQ (s : R) (l : nat) : R :=
  match l with
  | O => relu (- s)
  | S k => relu (carryQ s k)
  end.

(** Unit j of group l reads the copies carried into its layer. *)
Definition unit (b : nat -> R) (s : R) (l j : nat) : R := relu (carryP s l - carryQ s l - b j).

(** Accumulators: [Pacc l] holds groups 0..l-1; the update adding group k is computed in the
    layer after the one holding group k. *)
Fixpoint Pacc (g : nat -> nat) (w b : nat -> R) (s : R) (l : nat) : R :=
  match l with
  | O => 0
  | S k => relu (Pacc g w b s k + sumRange (g k) (g (S k)) (fun j => pos (w j) * unit b s k j))
  end.

Fixpoint Nacc (g : nat -> nat) (w b : nat -> R) (s : R) (l : nat) : R :=
  match l with
  | O => 0
  | S k => relu (Nacc g w b s k + sumRange (g k) (g (S k)) (fun j => neg (w j) * unit b s k j))
  end.

(** The output layer (linear, no bias), for L >= 1 group layers. *)
Definition deep (L : nat) (g : nat -> nat) (w b : nat -> R) (s : R) : R :=
  Pacc g w b s (L - 1) - Nacc g w b s (L - 1)
  + sumRange (g (L - 1)%nat) (g L) (fun j => w j * unit b s (L - 1) j).

Lemma carryP_const : forall s l, carryP s l = relu s.
Proof.
  intros s l. induction l as [|l IH]; [reflexivity|].
  simpl. rewrite IH. apply relu_pos. apply relu_nonneg.
Qed.

Lemma carryQ_const : forall s l, carryQ s l = relu (- s).
Proof.
  intros s l. induction l as [|l IH]; [reflexivity|].
  simpl. rewrite IH. apply relu_pos. apply relu_nonneg.
Qed.

Lemma sign_split : forall s, relu s - relu (- s) = s.
Proof.
  intros s. destruct (Rle_dec 0 s) as [H|H].
  - rewrite (relu_pos s H), (relu_neg (- s)) by lra. ring.
  - rewrite (relu_neg s), (relu_pos (- s)) by lra. ring.
Qed.

(** Every unit of the deep network is the shallow unit relu(s - b_j), same stored bias. *)
Lemma unit_is_shallow_unit : forall b s l j, unit b s l j = relu (s - b j).
Proof.
  intros b s l j. unfold unit. rewrite carryP_const, carryQ_const, sign_split. reflexivity.
Qed.

Definition groups_ok (n L : nat) (g : nat -> nat) : Prop :=
  g O = O /\ g L = n /\ forall l, (l < L)%nat -> (g l <= g (S l))%nat.

Lemma groups_mono : forall n L g, groups_ok n L g ->
  forall l m, (l <= m)%nat -> (m <= L)%nat -> (g l <= g m)%nat.
Proof.
  intros n L g [_ [_ Hg]] l m Hlm HmL. induction m as [|m IH].
  - replace l with 0%nat by lia. lia.
  - destruct (Nat.eq_dec l (S m)) as [->|Hne]; [lia|].
    specialize (Hg m ltac:(lia)). specialize (IH ltac:(lia) ltac:(lia)). lia.
Qed.

(** The accumulators hold the exact partial sums over the groups added so far. *)
Lemma Pacc_sum : forall n L g w b s, groups_ok n L g ->
  forall l, (l <= L)%nat ->
  Pacc g w b s l = sumR (g l) (fun j => pos (w j) * relu (s - b j)).
Proof.
  intros n L g w b s Hg l. induction l as [|l IH]; intros Hl.
  - destruct Hg as [H0 _]. rewrite H0. reflexivity.
  - pose proof (groups_mono n L g Hg l (S l) ltac:(lia) Hl) as Hmono.
    pose proof (groups_mono n L g Hg (S l) L ltac:(lia) ltac:(lia)) as HgL.
    destruct Hg as [_ [HL _]].
    simpl. rewrite IH by lia.
    rewrite (sumR_split (g l) (g (S l))) by exact Hmono.
    assert (Heq : sumRange (g l) (g (S l)) (fun j => pos (w j) * unit b s l j) =
                  sumRange (g l) (g (S l)) (fun j => pos (w j) * relu (s - b j))).
    { unfold sumRange. apply sumR_ext. intros k Hk.
      rewrite unit_is_shallow_unit. reflexivity. }
    rewrite Heq, <- (sumR_split (g l) (g (S l))) by exact Hmono.
    apply relu_pos. apply sumR_nonneg. intros j _.
    apply Rmult_le_pos; [apply pos_nonneg|apply relu_nonneg].
Qed.

Lemma Nacc_sum : forall n L g w b s, groups_ok n L g ->
  forall l, (l <= L)%nat ->
  Nacc g w b s l = sumR (g l) (fun j => neg (w j) * relu (s - b j)).
Proof.
  intros n L g w b s Hg l. induction l as [|l IH]; intros Hl.
  - destruct Hg as [H0 _]. rewrite H0. reflexivity.
  - pose proof (groups_mono n L g Hg l (S l) ltac:(lia) Hl) as Hmono.
    pose proof (groups_mono n L g Hg (S l) L ltac:(lia) ltac:(lia)) as HgL.
    destruct Hg as [_ [HL _]].
    simpl. rewrite IH by lia.
    rewrite (sumR_split (g l) (g (S l))) by exact Hmono.
    assert (Heq : sumRange (g l) (g (S l)) (fun j => neg (w j) * unit b s l j) =
                  sumRange (g l) (g (S l)) (fun j => neg (w j) * relu (s - b j))).
    { unfold sumRange. apply sumR_ext. intros k Hk.
      rewrite unit_is_shallow_unit. reflexivity. }
    rewrite Heq, <- (sumR_split (g l) (g (S l))) by exact Hmono.
    apply relu_pos. apply sumR_nonneg. intros j _.
    apply Rmult_le_pos; [apply neg_nonneg|apply relu_nonneg].
Qed.

(** Main theorem: the deep network computes the shallow network of Theorem 1 at every
    input s = <a, x>, for any weights w, any biases b and any grouping into L >= 1 layers. *)
Theorem deep_equals_shallow : forall n L g w b s,
  (1 <= L)%nat -> groups_ok n L g ->
  deep L g w b s = net n w b s.
Proof.
  intros n L g w b s HL Hg. unfold deep.
  rewrite (Pacc_sum n L g w b s Hg (L - 1)) by lia.
  rewrite (Nacc_sum n L g w b s Hg (L - 1)) by lia.
  pose proof (groups_mono n L g Hg (L - 1) L ltac:(lia) ltac:(lia)) as Hmono.
  destruct Hg as [_ [HgL _]].
  unfold net. rewrite <- HgL. rewrite (sumR_split (g (L - 1)%nat) (g L)) by exact Hmono.
  rewrite <- sumR_minus.
  assert (Heq : sumRange (g (L - 1)%nat) (g L) (fun j => w j * unit b s (L - 1) j) =
                sumRange (g (L - 1)%nat) (g L) (fun j => w j * relu (s - b j))).
  { unfold sumRange. apply sumR_ext. intros k Hk.
    rewrite unit_is_shallow_unit. reflexivity. }
  rewrite Heq. f_equal. apply sumR_ext. intros j _.
  rewrite (pos_neg (w j)) at 3. ring.
Qed.

(** Hence the depth-k network interpolates, with the weights of Theorem 1. *)
Corollary deep_interpolation : forall n L g z b y,
  (1 <= L)%nat -> groups_ok n L g -> interleaved n z b ->
  forall i, (i < n)%nat -> deep L g (weight z b y) b (z i) = y i.
Proof.
  intros n L g z b y HL Hg Hint i Hi.
  rewrite (deep_equals_shallow n L g (weight z b y) b (z i) HL Hg).
  apply interpolation; assumption.
Qed.
