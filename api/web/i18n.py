"""French-first labels with English available: ``text(key, lang)`` and the vocabulary labels
(actions, modes, decisions, actor types) of POLICY.md."""

from __future__ import annotations

LANGUAGES = ("fr", "en")

ACTIONS: dict[str, tuple[str, str]] = {
    "dossier.create": ("Création du dossier", "Record created"),
    "dossier.read": ("Consultation du dossier", "Record viewed"),
    "dossier.close": ("Fermeture du dossier", "Record closed"),
    "dossier.reopen": ("Réouverture du dossier", "Record reopened"),
    "dossier.settings.update": (
        "Modification des paramètres d'urgence",
        "Emergency settings changed",
    ),
    "document.list": ("Liste des documents", "Documents listed"),
    "document.read": ("Consultation d'un document", "Document read"),
    "document.add": ("Ajout d'un document", "Document added"),
    "document.update_flags": (
        "Changement de visibilité d'un document",
        "Document visibility changed",
    ),
    "document.delete": ("Suppression d'un document", "Document deleted"),
    "authorization.grant": ("Autorisation d'un professionnel", "Professional authorised"),
    "authorization.revoke": ("Retrait d'une autorisation", "Authorisation revoked"),
    "block.add": ("Blocage d'un professionnel", "Professional blocked"),
    "block.remove": ("Déblocage d'un professionnel", "Professional unblocked"),
    "treating_doctor.set": ("Désignation du médecin traitant", "Treating doctor designated"),
    "treating_doctor.unset": ("Retrait du médecin traitant", "Treating doctor removed"),
    "representative.add": ("Ajout d'un représentant légal", "Legal representative added"),
    "representative.remove": ("Retrait d'un représentant légal", "Legal representative removed"),
    "opposition.add": ("Opposition à l'alimentation", "Feeding opposition added"),
    "opposition.remove": ("Levée d'une opposition", "Feeding opposition lifted"),
    "traces.read": ("Consultation de l'historique", "Access history read"),
    "traces.export": ("Export de l'historique", "Access history exported"),
    "ledger.read": ("Lecture du registre", "Ledger read"),
}
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
        "Documents encore invisibles pour vous (résultats en attente d'annonce) : {count}.",
        "Documents still hidden from you (results awaiting disclosure): {count}.",
    ),
    "review_note": (
        "Ces listes n'appliquent pas la matrice d'habilitation, qui dépend de la profession.",
        "Lists do not apply the habilitation matrix, which depends on each profession.",
    ),
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
    "flag_denied": ("tentative refusée", "denied attempt"),
    "flag_no_justification": ("sans justification", "no justification"),
    "flag_short_justification": ("justification brève", "brief justification"),
    "flag_night": ("de nuit (de 21 h à 7 h)", "at night (9 pm to 7 am)"),
    "flag_repeated": ("accès répétés du même professionnel", "repeated by the same professional"),
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
