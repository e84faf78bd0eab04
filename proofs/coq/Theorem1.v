(** * Theorem 1 of Zhang, Bengio, Hardt, Recht, Vinyals (ICLR 2017), machine-checked.

    The two-layer ReLU network
        c(t) = sum_{j<n} w_j * relu(t - b_j),      relu(t) = Rmax t 0,
    with the weights produced by the slope recurrence of the construction
        V_0 = 0,  s_i = (y_i - V_i)/(z_i - b_i),  V_{i+1} = V_i + s_i (b_{i+1} - b_i),
        w_0 = s_0,  w_i = s_i - s_{i-1},
    interpolates any labels y at sorted projections z_0 < ... < z_{n-1} whenever the
    biases interleave: b_i < z_i and z_i <= b_{i+1} (weak) or z_i < b_{i+1} (strict).

    Indices run over 0..n-1.  Only Coq's standard library is used; see check.sh for the
    [Print Assumptions] audit.  The written proof is proofs/theorem1.md. *)

Require Import Reals Lra Lia.
Open Scope R_scope.

(** ** Finite sums over 0..n-1 *)

Fixpoint sumR (n : nat) (f : nat -> R) : R :=
  match n with
  | O => 0
  | S k => sumR k f + f k
  end.

Lemma sumR_ext : forall n f g,
  (forall j, (j < n)%nat -> f j = g j) -> sumR n f = sumR n g.
Proof.
  induction n as [|n IH]; intros f g H; simpl; [reflexivity|].
  rewrite (IH f g) by (intros; apply H; lia). rewrite (H n) by lia. reflexivity.
Qed.

Lemma sumR_plus : forall n f g,
  sumR n (fun j => f j + g j) = sumR n f + sumR n g.
Proof. induction n as [|n IH]; intros; simpl; [lra|]. rewrite IH. lra. Qed.

Lemma sumR_minus : forall n f g,
  sumR n (fun j => f j - g j) = sumR n f - sumR n g.
Proof. induction n as [|n IH]; intros; simpl; [lra|]. rewrite IH. lra. Qed.

Lemma sumR_scal : forall n c f,
  sumR n (fun j => c * f j) = c * sumR n f.
Proof. induction n as [|n IH]; intros; simpl; [lra|]. rewrite IH. lra. Qed.

Lemma sumR_zero : forall n f,
  (forall j, (j < n)%nat -> f j = 0) -> sumR n f = 0.
Proof.
  intros n f H. rewrite (sumR_ext n f (fun _ => 0)) by exact H.
  clear H. induction n as [|n IH]; simpl; [reflexivity|]. rewrite IH. lra.
Qed.

(** Terms with index in [m, n) vanish: the sum stops at m. *)
Lemma sumR_trunc : forall n m f,
  (m <= n)%nat -> (forall j, (m <= j < n)%nat -> f j = 0) -> sumR n f = sumR m f.
Proof.
  induction n as [|n IH]; intros m f Hmn H.
  - replace m with 0%nat by lia. reflexivity.
  - destruct (Nat.eq_dec m (S n)) as [->|Hne]; [reflexivity|].
    simpl. rewrite (H n) by lia. rewrite (IH m f) by (lia || (intros; apply H; lia)). lra.
Qed.

(** ** ReLU *)

Definition relu (t : R) : R := Rmax t 0.

Lemma relu_pos : forall t, 0 <= t -> relu t = t.
Proof. intros t H. unfold relu. apply Rmax_left. lra. Qed.

Lemma relu_neg : forall t, t <= 0 -> relu t = 0.
Proof. intros t H. unfold relu. apply Rmax_right. lra. Qed.

Lemma relu_nonneg : forall t, 0 <= relu t.
Proof. intros t. unfold relu. apply Rmax_r. Qed.

(** ** Slopes, weights and the value of the network at the knots

    Everything in this section holds for an arbitrary slope sequence [s]: the weights are
    its first differences and the network is then the continuous piecewise-linear
    function with slope [s i] on the i-th piece [b_i, b_{i+1}].  This general form is the
    one used by proofs/float64.md, where [s] is the sequence of stored (rounded) slopes. *)

Definition diffs (s : nat -> R) (i : nat) : R :=
  match i with
  | O => s O
  | S k => s (S k) - s k
  end.

(** [knotval s b i] = value of the network at the knot b_i. *)
Fixpoint knotval (s b : nat -> R) (i : nat) : R :=
  match i with
  | O => 0
  | S k => knotval s b k + s k * (b (S k) - b k)
  end.

(** Prefix sums of the weights are the slopes (telescoping). *)
Theorem prefix_sum_weights : forall s i, sumR (S i) (diffs s) = s i.
Proof.
  intros s i. induction i as [|i IH].
  - simpl. lra.
  - change (sumR (S (S i)) (diffs s)) with (sumR (S i) (diffs s) + diffs s (S i)).
    rewrite IH. simpl. lra.
Qed.

(** The linear identity behind Lemma 1's piecewise-linear picture:
    sum_{j<=i} w_j (t - b_j) = V_i + s_i (t - b_i), for every real t. *)
Lemma linear_identity : forall s b i t,
  sumR (S i) (fun j => diffs s j * (t - b j)) = knotval s b i + s i * (t - b i).
Proof.
  intros s b i t. induction i as [|i IH].
  - simpl. lra.
  - change (sumR (S (S i)) (fun j => diffs s j * (t - b j)))
      with (sumR (S i) (fun j => diffs s j * (t - b j)) + diffs s (S i) * (t - b (S i))).
    rewrite IH. simpl. ring.
Qed.

(** The network with n hidden units, weights w and biases b, on a scalar input t = <a,x>. *)
Definition net (n : nat) (w b : nat -> R) (t : R) : R :=
  sumR n (fun j => w j * relu (t - b j)).

Definition nondecreasing_upto (n : nat) (b : nat -> R) : Prop :=
  forall j, (S j < n)%nat -> b j <= b (S j).

Lemma nondecreasing_le : forall n b, nondecreasing_upto n b ->
  forall i j, (i <= j)%nat -> (j < n)%nat -> b i <= b j.
Proof.
  intros n b Hb i j Hij Hjn. induction j as [|j IH].
  - replace i with 0%nat by lia. lra.
  - destruct (Nat.eq_dec i (S j)) as [->|Hne]; [lra|].
    apply Rle_trans with (b j); [apply IH; lia | apply Hb; lia].
Qed.

(** Slope identity (Lemma 1 flavour): on the i-th piece [b_i, b_{i+1}] (the last piece is
    [b_{n-1}, +oo)) the network is the affine function V_i + s_i (t - b_i). *)
Theorem net_on_piece : forall n s b i t,
  nondecreasing_upto n b -> (i < n)%nat ->
  b i <= t -> ((S i < n)%nat -> t <= b (S i)) ->
  net n (diffs s) b t = knotval s b i + s i * (t - b i).
Proof.
  intros n s b i t Hb Hi Hlo Hhi. unfold net.
  rewrite (sumR_trunc n (S i)) by
    (lia || (intros j Hj; rewrite relu_neg; [ring|];
             assert (b (S i) <= b j) by (apply (nondecreasing_le n); [exact Hb|lia|lia]);
             assert (t <= b (S i)) by (apply Hhi; lia); lra)).
  rewrite <- linear_identity.
  apply sumR_ext. intros j Hj. rewrite relu_pos; [reflexivity|].
  assert (b j <= b i) by (apply (nondecreasing_le n); [exact Hb|lia|lia]). lra.
Qed.

(** Left of the first knot the network is 0. *)
Theorem net_left_of_first_knot : forall n w b t,
  nondecreasing_upto n b -> t <= b O -> net n w b t = 0.
Proof.
  intros n w b t Hb Ht. unfold net. apply sumR_zero. intros j Hj.
  rewrite relu_neg; [ring|].
  assert (b O <= b j) by (apply (nondecreasing_le n); [exact Hb|lia|lia]). lra.
Qed.

(** ** The construction *)

Fixpoint V (z b y : nat -> R) (i : nat) : R :=
  match i with
  | O => 0
  | S k => V z b y k + (y k - V z b y k) / (z k - b k) * (b (S k) - b k)
  end.

Definition slope (z b y : nat -> R) (i : nat) : R := (y i - V z b y i) / (z i - b i).

Definition weight (z b y : nat -> R) : nat -> R := diffs (slope z b y).

Lemma weight_0 : forall z b y, weight z b y O = slope z b y O.
Proof. reflexivity. Qed.

Lemma weight_S : forall z b y i,
  weight z b y (S i) = slope z b y (S i) - slope z b y i.
Proof. reflexivity. Qed.

Lemma V_is_knotval : forall z b y i, V z b y i = knotval (slope z b y) b i.
Proof.
  intros z b y i. induction i as [|i IH]; [reflexivity|].
  simpl. rewrite <- IH. reflexivity.
Qed.

(** Interleaving, weak form: b_i < z_i, and z_i <= b_{i+1}. *)
Definition interleaved_weak (n : nat) (z b : nat -> R) : Prop :=
  (forall i, (i < n)%nat -> b i < z i) /\ (forall i, (S i < n)%nat -> z i <= b (S i)).

(** Interleaving, strict form used by the implementation and the paper:
    b_0 < z_0 < b_1 < z_1 < ... < b_{n-1} < z_{n-1}. *)
Definition interleaved (n : nat) (z b : nat -> R) : Prop :=
  (forall i, (i < n)%nat -> b i < z i) /\ (forall i, (S i < n)%nat -> z i < b (S i)).

Lemma interleaved_weaken : forall n z b, interleaved n z b -> interleaved_weak n z b.
Proof.
  intros n z b [H1 H2]. split; [exact H1|]. intros i Hi. left. apply H2. exact Hi.
Qed.

Lemma interleaved_weak_sorted : forall n z b, interleaved_weak n z b ->
  forall i, (S i < n)%nat -> z i < z (S i).
Proof.
  intros n z b [H1 H2] i Hi. apply Rle_lt_trans with (b (S i)); [apply H2 | apply H1]; lia.
Qed.

Lemma interleaved_weak_nondecreasing : forall n z b,
  interleaved_weak n z b -> nondecreasing_upto n b.
Proof.
  intros n z b [H1 H2] j Hj. left. apply Rlt_le_trans with (z j); [apply H1|apply H2]; lia.
Qed.

(** ** Main theorem (weak interleaving) *)
Theorem interpolation_weak : forall n z b y,
  interleaved_weak n z b ->
  forall i, (i < n)%nat -> net n (weight z b y) b (z i) = y i.
Proof.
  intros n z b y Hint i Hi.
  pose proof (interleaved_weak_nondecreasing n z b Hint) as Hb.
  destruct Hint as [H1 H2].
  unfold weight. rewrite (net_on_piece n (slope z b y) b i (z i) Hb Hi).
  - rewrite <- V_is_knotval. unfold slope.
    assert (z i - b i <> 0) by (specialize (H1 i Hi); lra).
    field. exact H.
  - left. apply H1. exact Hi.
  - intros HS. apply H2. exact HS.
Qed.

(** ** Main theorem (strict interleaving, as in the paper and the implementation) *)
Theorem interpolation : forall n z b y,
  interleaved n z b ->
  forall i, (i < n)%nat -> net n (weight z b y) b (z i) = y i.
Proof.
  intros n z b y Hint. apply interpolation_weak. apply interleaved_weaken. exact Hint.
Qed.

(** The slope on piece i is the prefix sum w_0 + ... + w_i. *)
Corollary slope_is_prefix_sum : forall z b y i,
  sumR (S i) (weight z b y) = slope z b y i.
Proof. intros. apply prefix_sum_weights. Qed.

(** The whole piecewise-linear picture for the constructed network. *)
Corollary construction_on_piece : forall n z b y i t,
  interleaved_weak n z b -> (i < n)%nat ->
  b i <= t -> ((S i < n)%nat -> t <= b (S i)) ->
  net n (weight z b y) b t = V z b y i + slope z b y i * (t - b i).
Proof.
  intros n z b y i t Hint Hi Hlo Hhi. rewrite V_is_knotval.
  apply net_on_piece; try assumption. apply (interleaved_weak_nondecreasing n z). exact Hint.
Qed.

(** ** The matrix A_ij = relu(z_i - b_j) *)

Definition A (z b : nat -> R) (i j : nat) : R := relu (z i - b j).

Theorem A_lower_triangular : forall n z b, interleaved_weak n z b ->
  forall i j, (i < j)%nat -> (j < n)%nat -> A z b i j = 0.
Proof.
  intros n z b Hint i j Hij Hjn. pose proof (interleaved_weak_nondecreasing n z b Hint) as Hb.
  destruct Hint as [H1 H2]. unfold A. apply relu_neg.
  assert (z i <= b (S i)) by (apply H2; lia).
  assert (b (S i) <= b j) by (apply (nondecreasing_le n); [exact Hb|lia|lia]). lra.
Qed.

Theorem A_diagonal_positive : forall n z b, interleaved_weak n z b ->
  forall i, (i < n)%nat -> A z b i i = z i - b i /\ 0 < A z b i i.
Proof.
  intros n z b [H1 H2] i Hi. specialize (H1 i Hi). unfold A.
  rewrite relu_pos by lra. split; lra.
Qed.

Theorem A_below_diagonal : forall n z b, interleaved_weak n z b ->
  forall i j, (j <= i)%nat -> (i < n)%nat -> A z b i j = z i - b j /\ z i - b i <= A z b i j.
Proof.
  intros n z b Hint i j Hji Hin. pose proof (interleaved_weak_nondecreasing n z b Hint) as Hb.
  destruct Hint as [H1 H2]. specialize (H1 i Hin).
  assert (b j <= b i) by (apply (nondecreasing_le n); [exact Hb|lia|lia]).
  unfold A. rewrite relu_pos by lra. split; lra.
Qed.

(** Matrix-vector product (A x)_i = sum_{j<n} A_ij x_j. *)
Definition matvec (n : nat) (M : nat -> nat -> R) (x : nat -> R) (i : nat) : R :=
  sumR n (fun j => M i j * x j).

(** Theorem 1 as a linear system: A w = y. *)
Theorem A_solves : forall n z b y, interleaved_weak n z b ->
  forall i, (i < n)%nat -> matvec n (A z b) (weight z b y) i = y i.
Proof.
  intros n z b y Hint i Hi. rewrite <- (interpolation_weak n z b y Hint i Hi).
  unfold matvec, net, A. apply sumR_ext. intros j _. ring.
Qed.

(** ** Lower-triangular linear algebra *)

Definition lower_triangular (n : nat) (M : nat -> nat -> R) : Prop :=
  forall i j, (i < j)%nat -> (j < n)%nat -> M i j = 0.

Lemma matvec_lower : forall n M x i, lower_triangular n M -> (i < n)%nat ->
  matvec n M x i = sumR i (fun j => M i j * x j) + M i i * x i.
Proof.
  intros n M x i HM Hi. unfold matvec.
  rewrite (sumR_trunc n (S i)) by (lia || (intros j Hj; rewrite HM by lia; ring)).
  reflexivity.
Qed.

(** A lower-triangular matrix with nonzero diagonal has trivial kernel. *)
Theorem lower_triangular_injective : forall n M x,
  lower_triangular n M -> (forall i, (i < n)%nat -> M i i <> 0) ->
  (forall i, (i < n)%nat -> matvec n M x i = 0) ->
  forall j, (j < n)%nat -> x j = 0.
Proof.
  intros n M x HM Hd Hx.
  assert (Hall : forall m, (m <= n)%nat -> forall j, (j < m)%nat -> x j = 0).
  { induction m as [|m IH]; intros Hm j Hj; [lia|].
    destruct (Nat.eq_dec j m) as [->|Hne]; [|apply IH; lia].
    pose proof (Hx m ltac:(lia)) as Hrow. rewrite (matvec_lower n M x m HM ltac:(lia)) in Hrow.
    rewrite (sumR_zero m) in Hrow by (intros l Hl; rewrite (IH ltac:(lia) l Hl); ring).
    assert (M m m * x m = 0) as Hp by lra.
    destruct (Rmult_integral _ _ Hp) as [H0|H0]; [exfalso; apply (Hd m); [lia|exact H0]|exact H0]. }
  intros j Hj. apply (Hall n); lia.
Qed.

Theorem A_injective : forall n z b x, interleaved_weak n z b ->
  (forall i, (i < n)%nat -> matvec n (A z b) x i = 0) -> forall j, (j < n)%nat -> x j = 0.
Proof.
  intros n z b x Hint. apply lower_triangular_injective.
  - intros i j Hij Hjn. apply (A_lower_triangular n z b Hint); lia.
  - intros i Hi. destruct (A_diagonal_positive n z b Hint i Hi). lra.
Qed.

(** The weights of the construction are the unique solution w = A^{-1} y. *)
Theorem weights_unique : forall n z b y w, interleaved_weak n z b ->
  (forall i, (i < n)%nat -> net n w b (z i) = y i) ->
  forall j, (j < n)%nat -> w j = weight z b y j.
Proof.
  intros n z b y w Hint Hw j Hj.
  assert (forall i, (i < n)%nat -> matvec n (A z b) (fun l => w l - weight z b y l) i = 0).
  { intros i Hi. unfold matvec.
    rewrite (sumR_ext n _ (fun l => w l * relu (z i - b l) - weight z b y l * relu (z i - b l)))
      by (intros; unfold A; ring).
    rewrite sumR_minus. fold (net n w b (z i)). fold (net n (weight z b y) b (z i)).
    rewrite Hw by exact Hi. rewrite (interpolation_weak n z b y Hint i Hi). ring. }
  pose proof (A_injective n z b _ Hint H j Hj) as H0. simpl in H0. lra.
Qed.

(** ** Lemma 1: the eigenvalues of A are its diagonal entries z_i - b_i, all positive, so
    A has full rank and its smallest eigenvalue is min_i (z_i - b_i). *)

Definition is_eigenvalue (n : nat) (M : nat -> nat -> R) (lam : R) : Prop :=
  exists x, (exists j, (j < n)%nat /\ x j <> 0) /\
            forall i, (i < n)%nat -> matvec n M x i = lam * x i.

Lemma exists_in_range : forall (P : nat -> Prop), (forall i, {P i} + {~ P i}) ->
  forall n, ~ (forall i, (i < n)%nat -> ~ P i) -> exists i, (i < n)%nat /\ P i.
Proof.
  intros P dec n. induction n as [|n IH]; intros H.
  - exfalso. apply H. intros; lia.
  - destruct (dec n) as [Hp|Hp]; [exists n; split; [lia|exact Hp]|].
    destruct IH as [i [Hi Hpi]].
    + intros Hall. apply H. intros i Hi. destruct (Nat.eq_dec i n) as [->|]; [exact Hp|].
      apply Hall. lia.
    + exists i. split; [lia|exact Hpi].
Qed.

(** Every eigenvalue of a lower-triangular matrix is a diagonal entry. *)
Theorem eigenvalue_is_diagonal : forall n M lam, lower_triangular n M ->
  is_eigenvalue n M lam -> exists i, (i < n)%nat /\ lam = M i i.
Proof.
  intros n M lam HM [x [[j [Hj Hxj]] Hx]].
  apply (exists_in_range (fun i => lam = M i i)); [intros i; apply Req_EM_T|].
  intros Hne.
  assert (Hker : forall i, (i < n)%nat ->
            matvec n (fun p q => M p q - (if Nat.eq_dec p q then lam else 0)) x i = 0).
  { intros i Hi. unfold matvec.
    rewrite (sumR_ext n _ (fun q => M i q * x q - (if Nat.eq_dec i q then lam * x q else 0)))
      by (intros q _; destruct (Nat.eq_dec i q); ring).
    rewrite sumR_minus. fold (matvec n M x i). rewrite (Hx i Hi).
    rewrite (sumR_trunc n (S i)) by
      (lia || (intros q Hq; destruct (Nat.eq_dec i q); [lia|reflexivity])).
    simpl. destruct (Nat.eq_dec i i) as [_|]; [|contradiction].
    rewrite (sumR_zero i) by (intros q Hq; destruct (Nat.eq_dec i q); [lia|reflexivity]).
    ring. }
  apply Hxj. apply (lower_triangular_injective n (fun p q => M p q - (if Nat.eq_dec p q then lam else 0)) x); [| |exact Hker|exact Hj].
  - intros p q Hpq Hqn. rewrite (HM p q Hpq Hqn). destruct (Nat.eq_dec p q); [lia|ring].
  - intros i Hi. destruct (Nat.eq_dec i i) as [_|]; [|contradiction].
    intros H0. apply (Hne i Hi). lra.
Qed.

(** Conversely every diagonal entry is an eigenvalue: back substitution from the last
    index k whose diagonal entry equals lam. *)

Fixpoint evec (M : nat -> nat -> R) (lam : R) (k m : nat) : nat -> R :=
  match m with
  | O => fun _ => 0
  | S p => fun j =>
      if Nat.eq_dec j p then
        (if lt_dec p k then 0
         else if Nat.eq_dec p k then 1
         else sumR p (fun l => M p l * evec M lam k p l) / (lam - M p p))
      else evec M lam k p j
  end.

Lemma evec_stable : forall M lam k m j, (j < m)%nat ->
  evec M lam k m j = evec M lam k (S j) j.
Proof.
  intros M lam k m j. induction m as [|m IH]; intros Hj; [lia|].
  destruct (Nat.eq_dec j m) as [->|Hne]; [reflexivity|].
  simpl. destruct (Nat.eq_dec j m) as [|_]; [contradiction|]. apply IH. lia.
Qed.

Definition evector (M : nat -> nat -> R) (lam : R) (k : nat) (j : nat) : R :=
  evec M lam k (S j) j.

Lemma evector_eq : forall M lam k j, evector M lam k j =
  if lt_dec j k then 0 else if Nat.eq_dec j k then 1
  else sumR j (fun l => M j l * evector M lam k l) / (lam - M j j).
Proof.
  intros M lam k j. unfold evector at 1. simpl.
  destruct (Nat.eq_dec j j) as [_|]; [|contradiction].
  destruct (lt_dec j k); [reflexivity|]. destruct (Nat.eq_dec j k); [reflexivity|].
  f_equal. apply sumR_ext. intros l Hl. unfold evector. rewrite evec_stable by lia. reflexivity.
Qed.

Lemma last_index : forall (P : nat -> Prop), (forall i, {P i} + {~ P i}) ->
  forall n k0, (k0 < n)%nat -> P k0 ->
  exists k, (k0 <= k < n)%nat /\ P k /\ forall i, (k < i < n)%nat -> ~ P i.
Proof.
  intros P dec n. induction n as [|n IH]; intros k0 Hk0 Hp; [lia|].
  destruct (dec n) as [Hn|Hn].
  - exists n. split; [lia|]. split; [exact Hn|]. intros; lia.
  - destruct (Nat.eq_dec k0 n) as [->|Hne]; [contradiction|].
    destruct (IH k0 ltac:(lia) Hp) as [k [Hk [Hpk Hlast]]].
    exists k. split; [lia|]. split; [exact Hpk|].
    intros i Hi. destruct (Nat.eq_dec i n) as [->|]; [exact Hn|]. apply Hlast. lia.
Qed.

Theorem diagonal_is_eigenvalue : forall n M k0, lower_triangular n M -> (k0 < n)%nat ->
  is_eigenvalue n M (M k0 k0).
Proof.
  intros n M k0 HM Hk0. set (lam := M k0 k0).
  destruct (last_index (fun i => M i i = lam) (fun i => Req_EM_T (M i i) lam) n k0 Hk0
              eq_refl) as [k [Hk [Hkk Hlast]]].
  set (x := evector M lam k).
  assert (Hlow : forall j, (j < k)%nat -> x j = 0).
  { intros j Hj. unfold x. rewrite evector_eq. destruct (lt_dec j k); [reflexivity|lia]. }
  exists x. split.
  - exists k. split; [lia|]. unfold x. rewrite evector_eq.
    destruct (lt_dec k k); [lia|]. destruct (Nat.eq_dec k k); [lra|contradiction].
  - intros i Hi. rewrite (matvec_lower n M x i HM Hi).
    destruct (lt_dec i k) as [Hik|Hik].
    + rewrite (sumR_zero i) by (intros l Hl; rewrite Hlow by lia; ring).
      rewrite (Hlow i Hik). ring.
    + destruct (Nat.eq_dec i k) as [->|Hne].
      * rewrite (sumR_zero k) by (intros l Hl; rewrite Hlow by lia; ring).
        rewrite Hkk. ring.
      * assert (Hd : lam - M i i <> 0) by (intros H0; apply (Hlast i ltac:(lia)); lra).
        unfold x at 2 3. rewrite evector_eq.
        destruct (lt_dec i k); [contradiction|]. destruct (Nat.eq_dec i k); [contradiction|].
        fold x. field. exact Hd.
Qed.

Lemma exists_argmin : forall (f : nat -> R) n, (0 < n)%nat ->
  exists i0, (i0 < n)%nat /\ forall i, (i < n)%nat -> f i0 <= f i.
Proof.
  intros f n. induction n as [|n IH]; intros Hn; [lia|].
  destruct (Nat.eq_dec n 0) as [->|Hne].
  - exists 0%nat. split; [lia|]. intros i Hi. replace i with 0%nat by lia. lra.
  - destruct (IH ltac:(lia)) as [i0 [Hi0 Hmin]].
    destruct (Rle_dec (f i0) (f n)) as [Hle|Hgt].
    + exists i0. split; [lia|]. intros i Hi.
      destruct (Nat.eq_dec i n) as [->|]; [exact Hle|apply Hmin; lia].
    + exists n. split; [lia|]. intros i Hi.
      destruct (Nat.eq_dec i n) as [->|]; [lra|]. specialize (Hmin i ltac:(lia)). lra.
Qed.

(** Lemma 1 of the paper.  A has full rank (trivial kernel), its real eigenvalues are exactly
    the numbers z_i - b_i (all positive), and the smallest one is min_i (z_i - b_i). *)
Theorem lemma1 : forall n z b, interleaved_weak n z b ->
  (forall x, (forall i, (i < n)%nat -> matvec n (A z b) x i = 0) ->
             forall j, (j < n)%nat -> x j = 0)
  /\ (forall lam, is_eigenvalue n (A z b) lam <-> exists i, (i < n)%nat /\ lam = z i - b i)
  /\ (forall lam, is_eigenvalue n (A z b) lam -> 0 < lam)
  /\ ((0 < n)%nat -> exists i0, (i0 < n)%nat /\ is_eigenvalue n (A z b) (z i0 - b i0) /\
        forall lam, is_eigenvalue n (A z b) lam -> z i0 - b i0 <= lam).
Proof.
  intros n z b Hint.
  assert (HL : lower_triangular n (A z b))
    by (intros i j Hij Hjn; apply (A_lower_triangular n z b Hint); lia).
  assert (Hspec : forall lam, is_eigenvalue n (A z b) lam <->
                              exists i, (i < n)%nat /\ lam = z i - b i).
  { intros lam. split.
    - intros He. destruct (eigenvalue_is_diagonal n _ lam HL He) as [i [Hi ->]].
      exists i. split; [exact Hi|]. apply (A_diagonal_positive n z b Hint i Hi).
    - intros [i [Hi ->]]. destruct (A_diagonal_positive n z b Hint i Hi) as [Hd _].
      rewrite <- Hd. apply diagonal_is_eigenvalue; assumption. }
  split; [intros x; apply A_injective; exact Hint|].
  split; [exact Hspec|].
  split.
  - intros lam He. apply Hspec in He. destruct He as [i [Hi ->]].
    destruct (A_diagonal_positive n z b Hint i Hi) as [Hd Hp]. lra.
  - intros Hn. destruct (exists_argmin (fun i => z i - b i) n Hn) as [i0 [Hi0 Hmin]].
    exists i0. split; [exact Hi0|]. split.
    + apply Hspec. exists i0. split; [exact Hi0|reflexivity].
    + intros lam He. apply Hspec in He. destruct He as [i [Hi ->]]. apply Hmin. exact Hi.
Qed.

(** ** Perturbation identities used by proofs/float64.md

    For ANY stored slopes sigma (e.g. rounded to a grid), the stored network with weights
    diffs sigma has, at the knots, the values knotval sigma b; the difference from any other
    slope sequence s is the sum of slope errors times piece lengths. *)
Theorem knotval_difference : forall sigma s b i,
  knotval sigma b i - knotval s b i =
  sumR i (fun j => (sigma j - s j) * (b (S j) - b j)).
Proof.
  intros sigma s b i. induction i as [|i IH]; simpl; [lra|]. rewrite <- IH. ring.
Qed.

(** Exact residual of a network with arbitrary slopes sigma at a point t in piece i. *)
Theorem residual_on_piece : forall n sigma b i t y0,
  nondecreasing_upto n b -> (i < n)%nat ->
  b i <= t -> ((S i < n)%nat -> t <= b (S i)) ->
  net n (diffs sigma) b t - y0 =
  sumR i (fun j => sigma j * (b (S j) - b j)) + sigma i * (t - b i) - y0.
Proof.
  intros n sigma b i t y0 Hb Hi Hlo Hhi. rewrite (net_on_piece n sigma b i t Hb Hi Hlo Hhi).
  f_equal. f_equal. clear. induction i as [|i IH]; simpl; [reflexivity|]. rewrite IH. reflexivity.
Qed.
