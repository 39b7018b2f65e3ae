"""French-first labels with English available: ``text(key, lang)`` and the vocabulary labels
(modes, decisions, actor types) of POLICY.md. Actions and reason ids are sentences kept as
data: ``api/web/wording.py``."""

from __future__ import annotations

LANGUAGES = ("fr", "en")

MODES: dict[str, tuple[str, str]] = {
    "normal": ("Normal", "Normal"),
    "break_glass": ("Bris de glace", "Break glass"),
    "regulation": ("Centre 15", "SAMU-Centre 15"),
}
DECISIONS: dict[str, tuple[str, str]] = {
    "permit": ("Autorisé", "Permitted"),
    "deny": ("Refusé", "Denied"),
}
ACTOR_TYPES: dict[str, tuple[str, str]] = {
    "patient": ("Titulaire", "Holder"),
    "representative": ("Représentant légal", "Legal representative"),
    "professional": ("Professionnel de santé", "Health professional"),
    "agent": ("Agent de l'Assurance maladie", "Health-insurance agent"),
    "system": ("Système", "System"),
    "auditor": ("Auditeur sécurité", "Security auditor"),
}
BASES: dict[str, tuple[str, str]] = {
    "authorized": ("autorisé par vous", "authorised by you"),
    "self_declared": ("s'est déclaré autorisé", "declared itself authorised"),
    "treating_doctor": ("médecin traitant", "treating doctor"),
    "author": ("auteur de documents", "author of documents"),
}

TEXT: dict[str, tuple[str, str]] = {
    "app": ("Vigie", "Vigie"),
    "skip": ("Aller au contenu", "Skip to content"),
    "language": ("Langue", "Language"),
    "logout": ("Se déconnecter", "Log out"),
    "signed_in_as": ("Connecté : {name}", "Signed in: {name}"),
    "nav_home": ("Accueil", "Home"),
    "nav_desk": ("Bureau sécurité", "Security desk"),
    "login_title": ("Connexion", "Sign in"),
    "login_intro": (
        "Collez le jeton d'accès délivré par votre fournisseur d'identité.",
        "Paste the access token your identity provider issued.",
    ),
    "token_label": ("Jeton d'accès (JWT)", "Access token (JWT)"),
    "login_button": ("Se connecter", "Sign in"),
    "login_failed": ("Jeton refusé : {detail}", "Token rejected: {detail}"),
    "login_required": (
        "Connectez-vous pour accéder à cette page.",
        "Sign in to reach this page.",
    ),
    "session_ended": (
        "Votre session a pris fin ({detail}) : reconnectez-vous.",
        "Your session ended ({detail}): sign in again.",
    ),
    "logged_out": ("Vous êtes déconnecté.", "You are signed out."),
    "csrf_failed": (
        "Formulaire expiré ou invalide (jeton CSRF) : rechargez la page.",
        "Expired or invalid form (CSRF token): reload the page.",
    ),
    "error_title": ("Erreur", "Error"),
    "home_title": ("Accueil", "Home"),
    "home_pick": ("Ouvrir un dossier", "Open a record"),
    "patient_id": ("Identifiant du patient", "Patient id"),
    "open": ("Ouvrir", "Open"),
    "history_title": ("Historique des accès", "Access history"),
    "dossier_of": ("Dossier {pid}", "Record {pid}"),
    "history_list": ("Accès et actions sur votre dossier", "Accesses and actions on your record"),
    "filters": ("Filtres", "Filters"),
    "who_all": ("Toutes les actions", "All actions"),
    "who_mine": ("Vos actions", "Your actions"),
    "who_pro": ("Actions des professionnels", "Professionals' actions"),
    "who": ("Auteur des actions", "Whose actions"),
    "since": ("Du", "From"),
    "until": ("Au", "To"),
    "mode": ("Contexte", "Context"),
    "any_mode": ("Tous les contextes", "Any context"),
    "apply": ("Filtrer", "Filter"),
    "reset": ("Réinitialiser", "Reset"),
    "col_when": ("Date et heure", "Date and time"),
    "col_who": ("Qui", "Who"),
    "col_what": ("Action", "Action"),
    "col_context": ("Contexte", "Context"),
    "col_decision": ("Décision", "Decision"),
    "col_seq": ("N° d'entrée", "Entry no."),
    "col_patient": ("Patient", "Patient"),
    "history_caption": (
        "Accès à votre dossier, du plus récent au plus ancien",
        "Accesses to your record, newest first",
    ),
    "no_entries": ("Aucune entrée pour ces filtres.", "No entry for these filters."),
    "older": ("Entrées plus anciennes", "Older entries"),
    "newest": ("Revenir aux plus récentes", "Back to the newest"),
    "you": ("vous", "you"),
    "erased": ("(données effacées)", "(data erased)"),
    "document": ("document {doc}", "document {doc}"),
    "document_typed": ("« {label} » ({group})", "“{label}” ({group})"),
    "justification": ("Justification : {text}", "Justification: {text}"),
    "break_glass_flag": ("Bris de glace", "Break glass"),
    "regulation_flag": ("Centre 15", "SAMU-Centre 15"),
    "settings_title": ("Vos réglages", "Your settings"),
    "emergency_title": ("Accès en urgence", "Emergency access"),
    "break_glass_allowed": (
        "Autoriser l'accès en urgence par bris de glace",
        "Allow break-glass emergency access",
    ),
    "regulation_allowed": (
        "Autoriser l'accès par le médecin régulateur du SAMU-Centre 15",
        "Allow access by the SAMU-Centre 15 regulating doctor",
    ),
    "emergency_sees_masked": (
        "En urgence, donner accès aux documents masqués",
        "In an emergency, give access to masked documents",
    ),
    "save": ("Enregistrer", "Save"),
    "treating_doctor": ("Médecin traitant", "Treating doctor"),
    "none": ("aucun", "none"),
    "set_treating": ("Désigner", "Designate"),
    "remove": ("Retirer", "Remove"),
    "ps_id": ("Identifiant du professionnel (RPPS)", "Professional id (RPPS)"),
    "ps_id_hint": (
        "12 chiffres : 8 suivi des 11 chiffres du numéro RPPS, par exemple 899700218896.",
        "12 digits: 8 followed by the 11 digits of the RPPS number, e.g. 899700218896.",
    ),
    "ps_id_missing": (
        "Saisissez l'identifiant du professionnel.",
        "Enter the professional's id.",
    ),
    "ps_id_invalid": (
        "« {value} » n'est pas un identifiant de professionnel : saisissez 8 suivi des "
        "11 chiffres du numéro RPPS (12 chiffres, sans espace).",
        "“{value}” is not a professional id: enter 8 followed by the 11 digits of the RPPS "
        "number (12 digits, no spaces).",
    ),
    "authorizations": ("Professionnels autorisés", "Authorised professionals"),
    "blocks": ("Professionnels bloqués", "Blocked professionals"),
    "oppositions": (
        "Oppositions à l'alimentation du dossier",
        "Oppositions to feeding the record",
    ),
    "representatives": ("Représentants légaux", "Legal representatives"),
    "add": ("Ajouter", "Add"),
    "opposition_reason": ("Motif légitime", "Legitimate reason"),
    "empty_list": ("Liste vide.", "Empty list."),
    "saved": (
        "Modification enregistrée et tracée (entrée n° {seq}).",
        "Change saved and traced (entry no. {seq}).",
    ),
    "denied": (
        "Refusé par la politique d'accès : {reason}.",
        "Denied by the access policy: {reason}.",
    ),
    "failed": ("Échec : {detail}", "Failed: {detail}"),
    "bad_id": ("Identifiant manquant ou invalide.", "Missing or invalid id."),
    "export_title": ("Télécharger et vérifier l'historique", "Download and verify the history"),
    "export_intro": (
        "L'export est signé : votre navigateur peut vérifier lui-même qu'aucune entrée n'a été "
        "modifiée ni omise, avec la seule clé publique du registre.",
        "The export is signed: your browser can check by itself that no entry was altered or "
        "left out, with only the ledger's public key.",
    ),
    "download_json": (
        "Télécharger l'export vérifiable (JSON)",
        "Download the verifiable export (JSON)",
    ),
    "download_fhir": ("Télécharger la version FHIR R4", "Download the FHIR R4 version"),
    "verify_button": (
        "Télécharger et vérifier dans le navigateur",
        "Download and verify in the browser",
    ),
    "review_title": ("Qui peut voir mon dossier maintenant", "Who can see my record right now"),
    "review_basis": ("Fondement", "Basis"),
    "review_documents": ("Documents lisibles", "Readable documents"),
    "review_professional": ("Professionnel", "Professional"),
    "review_none": (
        "Aucun professionnel n'a accès aujourd'hui.",
        "No professional has access today.",
    ),
    "review_feeding_opposed": ("opposition à l'alimentation", "feeding opposed"),
    "review_emergency": ("En cas d'urgence", "In an emergency"),
    "review_mode_allowed": (
        "{mode} : autorisé, {count} document(s) lisible(s){masked}.",
        "{mode}: allowed, {count} document(s) readable{masked}.",
    ),
    "review_with_masked": (" dont les documents masqués", " including masked documents"),
    "review_mode_refused": (
        "{mode} : refusé par vos réglages.",
        "{mode}: refused by your settings.",
    ),
    "review_hidden": (
        "Documents encore invisibles pour vous : {count}. Ils n'apparaissent ni ici ni dans "
        "l'historique, où chaque action les concernant est notée « un document non visible ».",
        "Documents still hidden from you: {count}. They appear neither here nor in the "
        "history, where each action about them reads “a document not visible to you”.",
    ),
    "unknown_reason": ("motif non précisé", "reason not given"),
    "colon": (" : ", ": "),
    "someone": ("quelqu'un", "someone"),
    "not_yet_seen": ("{id} (pas encore connecté)", "{id} (not signed in yet)"),
    "professional_id": ("Professionnel {id}", "Professional {id}"),
    "you_subject": ("Vous", "You"),
    "erased_sentence": ("(données effacées)", "(data erased)"),
    "withheld_document": ("un document non visible pour vous", "a document not visible to you"),
    "times": ("{count} fois", "{count} times"),
    "a_document": ("un document", "a document"),
    "asked_to": ("{who} a demandé à {verb}", "{who} asked to {verb}"),
    "asked_to_you": ("Vous avez demandé à {verb}", "You asked to {verb}"),
    "remove_named": ("Retirer {name} de la liste « {list} »", "Remove {name} from “{list}”"),
    "remove_treating": (
        "Retirer {name} comme médecin traitant",
        "Remove {name} as treating doctor",
    ),
    "confirm_title": ("Confirmer le retrait", "Confirm the removal"),
    "confirm_list": (
        "Retirer {name} de la liste « {list} » ?",
        "Remove {name} from “{list}”?",
    ),
    "confirm_treating": (
        "Retirer {name} comme médecin traitant ?",
        "Remove {name} as treating doctor?",
    ),
    "confirm_yes": ("Oui, retirer", "Yes, remove"),
    "confirm_no": ("Non, revenir sans rien changer", "No, go back without changing anything"),
    "notice_title": (
        "Accès en urgence à votre dossier ({count})",
        "Emergency accesses to your record ({count})",
    ),
    "notice_intro": (
        "Au cours des 90 derniers jours, des professionnels ont accédé ou tenté d'accéder à "
        "votre dossier au titre de l'urgence, sans votre autorisation habituelle.",
        "In the last 90 days, professionals accessed or tried to access your record as an "
        "emergency, without your usual authorisation.",
    ),
    "notice_title_other": (
        "Accès en urgence à ce dossier ({count})",
        "Emergency accesses to this record ({count})",
    ),
    "notice_intro_other": (
        "Au cours des 90 derniers jours, des professionnels ont accédé ou tenté d'accéder à "
        "ce dossier au titre de l'urgence, sans l'autorisation habituelle.",
        "In the last 90 days, professionals accessed or tried to access this record as an "
        "emergency, without the usual authorisation.",
    ),
    "history_list_other": (
        "Accès et actions sur ce dossier",
        "Accesses and actions on this record",
    ),
    "history_caption_other": (
        "Accès à ce dossier, du plus récent au plus ancien",
        "Accesses to this record, newest first",
    ),
    "notice_last_visit": ("Votre dernière visite : {when}.", "Your last visit: {when}."),
    "notice_new": ("Nouveau", "New"),
    "notice_see_row": ("Voir cette ligne de l'historique", "See this line of the history"),
    "folded_since": ("depuis le {when}", "since {when}"),
    "pages": ("Pages de l'historique", "History pages"),
    "review_unknown_profession": (
        "Pas encore connecté : ses documents lisibles seront connus à sa première connexion "
        "(ils dépendent de sa profession).",
        "Not signed in yet: the documents they can read will be known at their first "
        "sign-in (they depend on their profession).",
    ),
    "review_no_document": (
        "Ne peut lire aucun document aujourd'hui.",
        "Can read no document today.",
    ),
    "review_can_read": ("Peut lire {count} document(s) :", "Can read {count} document(s):"),
    "api_denied": ("Accès refusé ({reason}).", "Access denied ({reason})."),
    "desk_title": ("Bureau sécurité", "Security desk"),
    "search_title": ("Recherche dans tous les dossiers", "Search across records"),
    "actor_id": ("Identifiant de l'acteur", "Actor id"),
    "action": ("Action", "Action"),
    "any_action": ("Toutes les actions", "Any action"),
    "decision": ("Décision", "Decision"),
    "any_decision": ("Toutes les décisions", "Any decision"),
    "search": ("Rechercher", "Search"),
    "results_caption": ("Résultats, du plus récent au plus ancien", "Results, newest first"),
    "queue_title": (
        "Bris de glace et Centre 15 à revoir",
        "Break-glass and Centre 15 review queue",
    ),
    "queue_caption": (
        "Accès en urgence, du plus récent au plus ancien, avec leurs justifications",
        "Emergency accesses, newest first, with their justifications",
    ),
    "queue_empty": ("Aucun accès en urgence.", "No emergency access."),
    "col_justification": ("Justification", "Justification"),
    "col_flags": ("Signaux", "Flags"),
    "flag_blocked_by_patient": (
        "tentative alors que le patient l'a bloqué",
        "attempt while blocked by the patient",
    ),
    "flag_weak_justification": ("justification trop faible", "weak justification"),
    "flag_minor_dossier": ("dossier d'un mineur", "a minor's record"),
    "queue_filter": ("État de la revue", "Review status"),
    "status_to_review": ("À revoir", "To review"),
    "status_reviewed": ("Revus", "Reviewed"),
    "status_all": ("Tous", "All"),
    "queue_intro": (
        "Regroupés par professionnel et par jour, les plus graves d'abord (score de gravité : "
        "somme des signaux).",
        "Grouped by professional and day, the most severe first (severity: the sum of the flags).",
    ),
    "group_count": ("{count} accès", "{count} access(es)"),
    "severity": ("Gravité {score}", "Severity {score}"),
    "group_to_review": ("{count} à revoir", "{count} to review"),
    "queue_caption_group": (
        "Accès en urgence de {who} le {day}",
        "Emergency accesses by {who} on {day}",
    ),
    "col_review": ("Revue", "Review"),
    "reviewed_by": (
        "Revu par {who} le {when} : « {comment} »",
        "Reviewed by {who} on {when}: “{comment}”",
    ),
    "mark_reviewed": ("Marquer comme revu", "Mark as reviewed"),
    "review_comment": ("Commentaire de revue (entrée {seq})", "Review comment (entry {seq})"),
    "save_review": ("Enregistrer la revue", "Save the review"),
    "all_of_professional": (
        "Toutes les entrées de ce professionnel",
        "All entries of this professional",
    ),
    "all_of_patient": ("Toutes les entrées de ce patient", "All entries of this patient"),
    "review_needs_comment": (
        "Une revue demande un commentaire.",
        "A review needs a comment.",
    ),
    "reviewed_saved": (
        "Accès n° {seq} marqué revu (entrée n° {entry} du registre).",
        "Access no. {seq} marked reviewed (ledger entry no. {entry}).",
    ),
    "flag_many_in_a_day": ("nombreux accès en urgence ce jour", "many emergency accesses that day"),
    "flag_denied_burst": ("rafale de refus juste avant", "burst of denials just before"),
    "flag_no_care_relationship": (
        "aucune relation de soins antérieure",
        "no prior care relationship",
    ),
    "flag_entries": ("entrées {entries}", "entries {entries}"),
    "entry_link": ("entrée {seq}", "entry {seq}"),
    "entry_title": ("Entrée n° {seq} du registre", "Ledger entry no. {seq}"),
    "entry_header": (
        "En-tête (haché, sans donnée personnelle)",
        "Header (hashed, no personal data)",
    ),
    "entry_payload": ("Données (engagées par payload_hash)", "Payload (committed by payload_hash)"),
    "back_to_desk": ("Retour au bureau sécurité", "Back to the security desk"),
    "ledger_title": ("État du registre", "Ledger status"),
    "ledger_size": ("Taille au dernier point de contrôle", "Size at the latest checkpoint"),
    "ledger_origin": ("Origine", "Origin"),
    "ledger_root": ("Racine", "Root"),
    "ledger_key": ("Clé de vérification publique", "Public verifier key"),
    "ledger_checkpoint": ("Dernier point de contrôle signé", "Latest signed checkpoint"),
    "verify_ledger": ("Vérifier tout le registre", "Verify the whole ledger"),
    "last_verification": ("Dernière vérification", "Last verification"),
    "never_verified": (
        "Aucune vérification lancée depuis le démarrage de ce processus.",
        "No verification run since this process started.",
    ),
    "memory_note": (
        "Le résultat est gardé en mémoire par processus du serveur : un autre processus (worker) "
        "ou un redémarrage ne le connaît pas.",
        "The result is kept in memory per server process: another worker process or a restart "
        "does not know it.",
    ),
    "verification_running": (
        "Vérification en cours : {done} / {total} entrées",
        "Verifying: {done} / {total} entries",
    ),
    "verification_ok": (
        "Registre vérifié : {entries} entrées, {checkpoints} points de contrôle, le {when}.",
        "Ledger verified: {entries} entries, {checkpoints} checkpoints, on {when}.",
    ),
    "verification_failed": (
        "Échec de la vérification le {when} : {detail}",
        "Verification failed on {when}: {detail}",
    ),
    "verification_started": ("Vérification lancée.", "Verification started."),
    "verification_busy": (
        "Une vérification est déjà en cours.",
        "A verification is already running.",
    ),
    "progress_label": ("Progression de la vérification", "Verification progress"),
}


def text(key: str, lang: str, **values: object) -> str:
    """The label ``key`` in ``lang`` (French when unknown), formatted with ``values``."""
    fr, en = TEXT[key]
    chosen = en if lang == "en" else fr
    return chosen.format(**values) if values else chosen


def label(table: dict[str, tuple[str, str]], value: str | None, lang: str) -> str:
    """A vocabulary value's label, or the value itself when the table does not know it."""
    if value is None:
        return ""
    pair = table.get(value)
    if pair is None:
        return value
    return pair[1] if lang == "en" else pair[0]
