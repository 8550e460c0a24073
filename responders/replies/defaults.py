"""The shipped reply templates and topic names, in English, Spanish, Haitian Creole,
Vietnamese, Simplified Chinese, Portuguese, French, Russian, Arabic, Somali, Korean, Tagalog
and Hindi. The ``topic:<topic>`` templates are in English and Spanish only; every other key is
in every language.

Keys: ``urgency:emergency`` (the 911 reply), ``urgency:high``, ``case`` (a case exists),
``topic:<topic>``, ``ack`` (any other actionable post) and ``followup`` (a case closed).
Every default fits X's weighted 280 with a long handle and a 23-character case link.
"""

from __future__ import annotations

LANGUAGES: dict[str, str] = {
    "en": "English",
    "es": "Español",
    "ht": "Kreyòl ayisyen",
    "vi": "Tiếng Việt",
    "zh": "中文",
    "pt": "Português",
    "fr": "Français",
    "ru": "Русский",
    "ar": "العربية",
    "so": "Soomaali",
    "ko": "한국어",
    "tl": "Tagalog",
    "hi": "हिन्दी",
}

TEMPLATES: dict[str, dict[str, str]] = {
    "urgency:emergency": {
        "en": "{handle} This sounds like an emergency: please call 911 right away. This account "
        "is not watched around the clock, so 911 is the fastest way to get help.",
        "es": "{handle} Esto parece una emergencia: llame al 911 de inmediato. Esta cuenta no se "
        "vigila las 24 horas; el 911 es la forma más rápida de obtener ayuda.",
        "ht": "{handle} Sa sanble yon ijans: tanpri rele 911 touswit. Nou pa siveye kont sa a "
        "24 sou 24, kidonk 911 se fason ki pi rapid pou jwenn èd.",
        "vi": "{handle} Đây có vẻ là trường hợp khẩn cấp: xin gọi 911 ngay. Tài khoản này không "
        "được theo dõi suốt ngày đêm, vì vậy 911 là cách nhanh nhất để được giúp đỡ.",
        "zh": "{handle} 这看起来是紧急情况：请立即拨打911。本账号并非全天候有人值守，拨打911是获得帮助最快的方式。",
        "pt": "{handle} Parece uma emergência: por favor, ligue imediatamente para o 911. Esta "
        "conta não é acompanhada 24 horas por dia, por isso o 911 é a forma mais rápida de obter "
        "ajuda.",
        "fr": "{handle} Cela ressemble à une urgence : veuillez appeler le 911 immédiatement. Ce "
        "compte n'est pas surveillé 24 heures sur 24 ; le 911 est donc le moyen le plus rapide "
        "d'obtenir de l'aide.",
        "ru": "{handle} Похоже, это экстренная ситуация: пожалуйста, немедленно позвоните по "
        "номеру 911. Этот аккаунт не отслеживается круглосуточно, поэтому 911 — самый быстрый "
        "способ получить помощь.",
        "ar": "{handle} يبدو أن هذه حالة طارئة: يُرجى الاتصال بالرقم 911 فورًا. لا تتم مراقبة هذا "
        "الحساب على مدار الساعة، لذا فإن الاتصال بالرقم 911 هو أسرع طريقة للحصول على المساعدة.",
        "so": "{handle} Tani waxay u muuqataa xaalad degdeg ah: fadlan isla markiiba wac 911. "
        "Akoonkan lama ilaaliyo habeen iyo maalin, sidaas darteed 911 waa habka ugu dhakhsaha "
        "badan ee caawimaad lagu heli karo.",
        "ko": "{handle} 긴급 상황으로 보입니다. 즉시 911에 전화해 주십시오. 이 계정은 24시간 "
        "모니터링되지 않으므로, 911에 전화하시는 것이 가장 빨리 도움을 받는 방법입니다.",
        "tl": "{handle} Mukhang emergency po ito: pakitawagan po agad ang 911. Hindi po 24 oras na "
        "binabantayan ang account na ito, kaya ang 911 ang pinakamabilis na paraan para "
        "makakuha ng tulong.",
        "hi": "{handle} यह एक आपात स्थिति लगती है: कृपया तुरंत 911 पर कॉल करें। इस अकाउंट की "
        "चौबीसों घंटे निगरानी नहीं होती, इसलिए मदद पाने का सबसे तेज़ तरीका 911 है।",
    },
    "urgency:high": {
        "en": "{handle} Thank you, this looks urgent. We have flagged it for the right team "
        "today. If anyone is in danger, call 911.",
        "es": "{handle} Gracias, esto parece urgente. Hoy mismo lo hemos señalado al equipo "
        "responsable. Si alguien está en peligro, llame al 911.",
        "ht": "{handle} Mèsi, sa sanble ijan. Nou siyale l bay ekip ki responsab la jodi a. "
        "Si yon moun an danje, rele 911.",
        "vi": "{handle} Cảm ơn bạn, việc này có vẻ khẩn cấp. Chúng tôi đã báo cho bộ phận phụ "
        "trách ngay hôm nay. Nếu có ai gặp nguy hiểm, xin gọi 911.",
        "zh": "{handle} 谢谢您，这个问题看起来很紧急。我们今天已通知负责部门。如有人身危险，请拨打911。",
        "pt": "{handle} Obrigado, isto parece urgente. Hoje mesmo sinalizamos a situação à equipe "
        "responsável. Se alguém estiver em perigo, ligue para o 911.",
        "fr": "{handle} Merci, cela semble urgent. Nous l'avons signalé dès aujourd'hui à "
        "l'équipe concernée. Si quelqu'un est en danger, appelez le 911.",
        "ru": "{handle} Спасибо, ситуация выглядит срочной. Мы сегодня же передали Ваше "
        "сообщение ответственной службе. Если кому-либо угрожает опасность, позвоните по "
        "номеру 911.",
        "ar": "{handle} شكرًا لك، يبدو أن هذا الأمر عاجل. لقد أحلناه اليوم إلى الفريق المختص. "
        "إذا كان أي شخص في خطر، فاتصل بالرقم 911.",
        "so": "{handle} Mahadsanid, arrintani waxay u muuqataa mid degdeg ah. Maanta ayaan u "
        "gudbinay kooxda ku habboon. Haddii qof khatar ku jiro, wac 911.",
        "ko": "{handle} 감사합니다. 긴급한 사안으로 보여 오늘 담당 부서에 전달했습니다. 위험에 "
        "처한 분이 있으면 911에 전화해 주십시오.",
        "tl": "{handle} Salamat po, mukhang apurahan ito. Naipaalam na po namin ito ngayong araw "
        "sa kinauukulang tanggapan. Kung may taong nasa panganib, tumawag po sa 911.",
        "hi": "{handle} धन्यवाद, यह मामला अत्यावश्यक लगता है। हमने आज ही इसे संबंधित टीम तक "
        "पहुँचा दिया है। अगर कोई ख़तरे में है, तो 911 पर कॉल करें।",
    },
    "case": {
        "en": "{handle} Thanks for reporting this. It is already logged as case #{case_number}, "
        "and we will update you here when it is resolved. {case_link}",
        "es": "{handle} Gracias por reportarlo. Ya está registrado como el caso #{case_number} y "
        "le avisaremos aquí cuando se resuelva. {case_link}",
        "ht": "{handle} Mèsi paske ou rapòte sa. Li deja anrejistre kòm ka #{case_number}, epi "
        "n ap fè ou konnen isit la lè yo rezoud li. {case_link}",
        "vi": "{handle} Cảm ơn bạn đã báo cáo. Việc này đã được ghi nhận là hồ sơ số "
        "{case_number}, chúng tôi sẽ cập nhật tại đây khi được giải quyết. {case_link}",
        "zh": "{handle} 感谢您的报告。此事已登记为第{case_number}号案件，解决后我们会在这里通知您。{case_link}",
        "pt": "{handle} Obrigado por nos informar. Isto já está registrado como o caso "
        "#{case_number}, e daremos notícias aqui quando for resolvido. {case_link}",
        "fr": "{handle} Merci pour votre signalement. Il est déjà enregistré sous le dossier "
        "n° {case_number}, et nous vous tiendrons au courant ici dès qu'il sera résolu. "
        "{case_link}",
        "ru": "{handle} Спасибо за Ваше сообщение. Оно уже зарегистрировано как обращение "
        "№ {case_number}, и мы сообщим Вам здесь, когда проблема будет решена. {case_link}",
        "ar": "{handle} شكرًا على بلاغك. لقد سُجّل بالفعل بوصفه البلاغ رقم {case_number}، "
        "وسنوافيك بالمستجدات هنا عند حلّه. {case_link}",
        "so": "{handle} Mahadsanid inaad soo sheegtay arrintan. Horay ayaa loo diiwaangeliyay "
        "iyadoo ah kiiska #{case_number}, waxaanna halkan kuu soo sheegi doonnaa marka la "
        "xalliyo. {case_link}",
        "ko": "{handle} 신고해 주셔서 감사합니다. 이 건은 이미 민원 {case_number}번으로 "
        "접수되었으며, 해결되면 여기에서 알려 드리겠습니다. {case_link}",
        "tl": "{handle} Salamat po sa pag-uulat nito. Nakatala na po ito bilang kaso "
        "#{case_number}, at aabisuhan po namin kayo rito kapag nalutas na ito. {case_link}",
        "hi": "{handle} सूचना देने के लिए धन्यवाद। यह पहले से ही शिकायत संख्या {case_number} के "
        "रूप में दर्ज है, और इसका समाधान होने पर हम आपको यहीं सूचित करेंगे। {case_link}",
    },
    "ack": {
        "en": "{handle} Thank you for letting us know about this {topic_name} problem. We have "
        "shared it with the team that handles it and will follow up here.",
        "es": "{handle} Gracias por avisarnos de este problema de {topic_name}. Lo hemos "
        "compartido con el equipo responsable y le daremos seguimiento aquí.",
        "ht": "{handle} Mèsi paske ou fè nou konnen pwoblèm {topic_name} sa a. Nou pataje l ak "
        "ekip ki responsab la, epi n ap ba ou nouvèl isit la.",
        "vi": "{handle} Cảm ơn bạn đã báo cho chúng tôi về vấn đề {topic_name} này. Chúng tôi "
        "đã chuyển đến bộ phận phụ trách và sẽ cập nhật cho bạn tại đây.",
        "zh": "{handle} 感谢您告诉我们这个{topic_name}问题。我们已转交负责部门处理，并会在这里向您更新进展。",
        "pt": "{handle} Obrigado por nos avisar sobre este problema de {topic_name}. Já o "
        "encaminhamos à equipe responsável e daremos um retorno aqui.",
        "fr": "{handle} Merci de nous avoir signalé ce problème concernant {topic_name}. Nous "
        "l'avons transmis à l'équipe responsable et vous tiendrons au courant ici.",
        "ru": "{handle} Спасибо, что сообщили нам о проблеме в категории «{topic_name}». Мы "
        "передали её ответственной службе и сообщим Вам здесь о ходе работ.",
        "ar": "{handle} شكرًا لإبلاغنا عن مشكلة {topic_name}. لقد أحلناها إلى الفريق المختص، "
        "وسنوافيك بالمستجدات هنا.",
        "so": "{handle} Mahadsanid inaad noo sheegtay dhibaatadan la xiriirta {topic_name}. "
        "Waxaan u gudbinay kooxda ka shaqaysa, waxaanna halkan kuu soo sheegi doonnaa wixii ka "
        "soo kordha.",
        "ko": "{handle} 이 {topic_name} 문제를 알려 주셔서 감사합니다. 담당 부서에 전달했으며, "
        "여기에서 계속 소식을 알려 드리겠습니다.",
        "tl": "{handle} Salamat po sa pagpapaalam sa amin ng problemang ito sa {topic_name}. "
        "Ipinasa na po namin ito sa tanggapang humahawak nito, at babalitaan po namin kayo rito.",
        "hi": "{handle} हमें {topic_name} की इस समस्या के बारे में बताने के लिए धन्यवाद। हमने इसे "
        "संभालने वाली टीम को भेज दिया है और आगे की जानकारी आपको यहीं देंगे।",
    },
    "followup": {
        "en": "{handle} Good news: the {topic_name} problem you reported has been marked fixed. "
        "Thank you for telling us! If it is still there, reply here and let us know.",
        "es": "{handle} Buenas noticias: el problema de {topic_name} que reportó figura como "
        "resuelto. ¡Gracias por avisarnos! Si sigue ahí, responda aquí y díganoslo.",
        "ht": "{handle} Bon nouvèl: pwoblèm {topic_name} ou te rapòte a make kòm rezoud. Mèsi "
        "paske ou te fè nou konnen! Si li toujou la, reponn isit la pou di nou.",
        "vi": "{handle} Tin vui: vấn đề {topic_name} bạn báo cáo đã được ghi nhận là đã xử lý "
        "xong. Cảm ơn bạn! Nếu vẫn còn, xin trả lời tại đây cho chúng tôi biết.",
        "zh": "{handle} 好消息：您报告的{topic_name}问题已标记为解决。感谢您的报告！如果问题仍然存在，请在这里回复告诉我们。",
        "pt": "{handle} Boa notícia: o problema de {topic_name} que nos relatou foi marcado como "
        "resolvido. Obrigado por nos avisar! Se o problema persistir, responda aqui para nos "
        "informar.",
        "fr": "{handle} Bonne nouvelle : le problème concernant {topic_name} que vous avez "
        "signalé est indiqué comme résolu. Merci de nous avoir prévenus ! S'il persiste, "
        "répondez ici pour nous le dire.",
        "ru": "{handle} Хорошая новость: проблема в категории «{topic_name}», о которой Вы "
        "сообщили, отмечена как устранённая. Спасибо, что дали нам знать! Если проблема "
        "сохраняется, ответьте здесь и сообщите нам.",
        "ar": "{handle} خبر سار: سُجّلت مشكلة {topic_name} التي أبلغت عنها على أنها تم إصلاحها. "
        "شكرًا لإبلاغنا! إذا كانت المشكلة لا تزال قائمة، يُرجى الرد هنا لإعلامنا.",
        "so": "{handle} War wanaagsan: dhibaatada la xiriirta {topic_name} ee aad soo sheegtay "
        "waxaa lagu calaamadeeyay in la xalliyay. Mahadsanid inaad noo sheegtay! Haddii ay weli "
        "jirto, halkan ku soo jawaab oo noo sheeg.",
        "ko": "{handle} 좋은 소식입니다. 신고하신 {topic_name} 문제가 해결 완료로 "
        "표시되었습니다. 알려 주셔서 감사합니다! 아직 해결되지 않았다면 여기에 답글로 알려 "
        "주십시오.",
        "tl": "{handle} Magandang balita po: naitala na pong naayos ang problema sa {topic_name} "
        "na inyong iniulat. Salamat po sa pag-uulat! Kung naroon pa rin ito, sumagot lamang po "
        "kayo rito upang ipaalam sa amin.",
        "hi": "{handle} अच्छी ख़बर: आपने {topic_name} की जो समस्या बताई थी, वह हमारे रिकॉर्ड में ठीक "
        "हो चुकी है। हमें बताने के लिए धन्यवाद! अगर वह अब भी बनी हुई है, तो यहाँ जवाब देकर हमें "
        "बताएँ।",
    },
    "topic:pothole": {
        "en": "{handle} Thanks for reporting this pothole. We have passed it to our street "
        "repair crews and will update you here.",
        "es": "{handle} Gracias por reportar este bache. Lo hemos pasado a nuestras cuadrillas "
        "de reparación de calles y le avisaremos aquí.",
    },
    "topic:streetlight": {
        "en": "{handle} Thanks for letting us know about the street light. We have sent it to "
        "the street lighting team and will update you here.",
        "es": "{handle} Gracias por avisarnos del alumbrado. Lo hemos enviado al equipo de "
        "alumbrado público y le avisaremos aquí.",
    },
    "topic:snow_ice": {
        "en": "{handle} Thanks for the report. We have shared it with our snow operations team "
        "and will update you here.",
        "es": "{handle} Gracias por el aviso. Lo hemos compartido con nuestro equipo de "
        "operaciones de nieve y le avisaremos aquí.",
    },
}

# A topic name is written to fit the ``ack`` and ``followup`` sentences of its language: in
# French with its article ("concernant l'éclairage public"), in Russian as a category in
# quotation marks, in Arabic as the second noun of "مشكلة ...", in Somali after "la xiriirta",
# and in Hindi in the oblique form that goes before "की समस्या".
TOPIC_NAMES: dict[str, dict[str, str]] = {
    "en": {
        "pothole": "pothole",
        "streetlight": "street light",
        "trash": "trash",
        "dumping": "illegal dumping",
        "graffiti": "graffiti",
        "snow_ice": "snow and ice",
        "tree": "tree",
        "sidewalk": "sidewalk",
        "signal_sign": "traffic signal or sign",
        "traffic_safety": "traffic safety",
        "parking": "parking",
        "street_cleaning": "street cleaning",
        "water_sewer": "water and sewer",
        "parks": "park",
        "noise": "noise",
        "pests": "rodent and pest",
        "encampment": "encampment",
        "housing": "housing",
        "other_service": "city service",
    },
    "es": {
        "pothole": "baches",
        "streetlight": "alumbrado",
        "trash": "basura",
        "dumping": "vertido ilegal",
        "graffiti": "grafiti",
        "snow_ice": "nieve y hielo",
        "tree": "árboles",
        "sidewalk": "aceras",
        "signal_sign": "semáforos o señales",
        "traffic_safety": "seguridad vial",
        "parking": "estacionamiento",
        "street_cleaning": "limpieza de calles",
        "water_sewer": "agua y alcantarillado",
        "parks": "parques",
        "noise": "ruido",
        "pests": "roedores y plagas",
        "encampment": "campamentos",
        "housing": "vivienda",
        "other_service": "servicios de la ciudad",
    },
    "ht": {
        "pothole": "twou nan lari",
        "streetlight": "limyè lari",
        "trash": "fatra",
        "dumping": "fatra yo jete ilegalman",
        "graffiti": "grafiti",
        "snow_ice": "nèj ak glas",
        "tree": "pyebwa",
        "sidewalk": "twotwa",
        "signal_sign": "limyè trafik oswa pankat",
        "traffic_safety": "sekirite sou wout",
        "parking": "pakin",
        "street_cleaning": "netwayaj lari",
        "water_sewer": "dlo ak egou",
        "parks": "pak",
        "noise": "bri",
        "pests": "rat ak ensèk",
        "encampment": "kan",
        "housing": "lojman",
        "other_service": "sèvis vil la",
    },
    "vi": {
        "pothole": "ổ gà",
        "streetlight": "đèn đường",
        "trash": "rác thải",
        "dumping": "đổ rác trái phép",
        "graffiti": "vẽ bậy",
        "snow_ice": "tuyết và băng",
        "tree": "cây xanh",
        "sidewalk": "vỉa hè",
        "signal_sign": "đèn giao thông hoặc biển báo",
        "traffic_safety": "an toàn giao thông",
        "parking": "đỗ xe",
        "street_cleaning": "vệ sinh đường phố",
        "water_sewer": "cấp thoát nước",
        "parks": "công viên",
        "noise": "tiếng ồn",
        "pests": "chuột và côn trùng",
        "encampment": "lều trại",
        "housing": "nhà ở",
        "other_service": "dịch vụ thành phố",
    },
    "zh": {
        "pothole": "路面坑洞",
        "streetlight": "路灯",
        "trash": "垃圾",
        "dumping": "非法倾倒",
        "graffiti": "涂鸦",
        "snow_ice": "积雪结冰",
        "tree": "树木",
        "sidewalk": "人行道",
        "signal_sign": "交通信号或标志",
        "traffic_safety": "交通安全",
        "parking": "停车",
        "street_cleaning": "街道清扫",
        "water_sewer": "供水排水",
        "parks": "公园",
        "noise": "噪音",
        "pests": "鼠患虫害",
        "encampment": "露宿营地",
        "housing": "住房",
        "other_service": "城市服务",
    },
    "pt": {
        "pothole": "buracos na rua",
        "streetlight": "iluminação pública",
        "trash": "lixo",
        "dumping": "descarte ilegal de lixo",
        "graffiti": "pichação",
        "snow_ice": "neve e gelo",
        "tree": "árvores",
        "sidewalk": "calçadas",
        "signal_sign": "semáforos ou sinalização",
        "traffic_safety": "segurança no trânsito",
        "parking": "estacionamento",
        "street_cleaning": "limpeza de ruas",
        "water_sewer": "água e esgoto",
        "parks": "parques",
        "noise": "barulho",
        "pests": "roedores e pragas",
        "encampment": "acampamentos",
        "housing": "moradia",
        "other_service": "serviços municipais",
    },
    "fr": {
        "pothole": "les nids-de-poule",
        "streetlight": "l'éclairage public",
        "trash": "les ordures",
        "dumping": "les dépôts sauvages d'ordures",
        "graffiti": "les graffitis",
        "snow_ice": "la neige et le verglas",
        "tree": "les arbres",
        "sidewalk": "les trottoirs",
        "signal_sign": "les feux de circulation ou la signalisation",
        "traffic_safety": "la sécurité routière",
        "parking": "le stationnement",
        "street_cleaning": "le nettoyage des rues",
        "water_sewer": "l'eau et les égouts",
        "parks": "les parcs",
        "noise": "le bruit",
        "pests": "les rongeurs et les nuisibles",
        "encampment": "les campements",
        "housing": "le logement",
        "other_service": "les services municipaux",
    },
    "ru": {
        "pothole": "ямы на дорогах",
        "streetlight": "уличное освещение",
        "trash": "мусор",
        "dumping": "незаконный сброс мусора",
        "graffiti": "граффити",
        "snow_ice": "снег и гололёд",
        "tree": "деревья",
        "sidewalk": "тротуары",
        "signal_sign": "светофоры или дорожные знаки",
        "traffic_safety": "безопасность дорожного движения",
        "parking": "парковка",
        "street_cleaning": "уборка улиц",
        "water_sewer": "водоснабжение и канализация",
        "parks": "парки",
        "noise": "шум",
        "pests": "грызуны и вредители",
        "encampment": "палаточные лагеря",
        "housing": "жильё",
        "other_service": "городские услуги",
    },
    "ar": {
        "pothole": "الحفر في الشوارع",
        "streetlight": "إنارة الشوارع",
        "trash": "القمامة",
        "dumping": "إلقاء النفايات بشكل غير قانوني",
        "graffiti": "الكتابة على الجدران",
        "snow_ice": "الثلوج والجليد",
        "tree": "الأشجار",
        "sidewalk": "الأرصفة",
        "signal_sign": "إشارات المرور أو اللافتات",
        "traffic_safety": "السلامة المرورية",
        "parking": "مواقف السيارات",
        "street_cleaning": "تنظيف الشوارع",
        "water_sewer": "المياه والصرف الصحي",
        "parks": "الحدائق العامة",
        "noise": "الضوضاء",
        "pests": "القوارض والآفات",
        "encampment": "المخيمات العشوائية",
        "housing": "السكن",
        "other_service": "الخدمات البلدية",
    },
    "so": {
        "pothole": "godadka waddooyinka",
        "streetlight": "nalalka waddooyinka",
        "trash": "qashinka",
        "dumping": "qashin-tuurista sharci-darrada ah",
        "graffiti": "qoraallada derbiyada",
        "snow_ice": "barafka iyo dhaxanta",
        "tree": "geedaha",
        "sidewalk": "marinnada lugta",
        "signal_sign": "nalalka ama calaamadaha taraafikada",
        "traffic_safety": "badbaadada taraafikada",
        "parking": "meelaha baabuurta la dhigto",
        "street_cleaning": "nadiifinta waddooyinka",
        "water_sewer": "biyaha iyo bullaacadaha",
        "parks": "beeraha dadweynaha",
        "noise": "buuqa",
        "pests": "jiirka iyo cayayaanka",
        "encampment": "xeryaha ku-meel-gaarka ah",
        "housing": "guryaha",
        "other_service": "adeegyada magaalada",
    },
    "ko": {
        "pothole": "도로 파임",
        "streetlight": "가로등",
        "trash": "쓰레기",
        "dumping": "쓰레기 불법 투기",
        "graffiti": "낙서",
        "snow_ice": "눈과 빙판",
        "tree": "나무",
        "sidewalk": "인도",
        "signal_sign": "신호등 또는 표지판",
        "traffic_safety": "교통 안전",
        "parking": "주차",
        "street_cleaning": "거리 청소",
        "water_sewer": "상하수도",
        "parks": "공원",
        "noise": "소음",
        "pests": "쥐와 해충",
        "encampment": "노숙 천막",
        "housing": "주거",
        "other_service": "시 행정 서비스",
    },
    "tl": {
        "pothole": "lubak",
        "streetlight": "ilaw ng kalye",
        "trash": "basura",
        "dumping": "ilegal na pagtatapon ng basura",
        "graffiti": "graffiti",
        "snow_ice": "niyebe at yelo",
        "tree": "puno",
        "sidewalk": "bangketa",
        "signal_sign": "ilaw-trapiko o karatula",
        "traffic_safety": "kaligtasan sa trapiko",
        "parking": "paradahan",
        "street_cleaning": "paglilinis ng kalye",
        "water_sewer": "tubig at imburnal",
        "parks": "parke",
        "noise": "ingay",
        "pests": "daga at peste",
        "encampment": "pansamantalang kampo",
        "housing": "pabahay",
        "other_service": "serbisyo ng lungsod",
    },
    "hi": {
        "pothole": "सड़क के गड्ढों",
        "streetlight": "स्ट्रीट लाइट",
        "trash": "कूड़े-कचरे",
        "dumping": "अवैध रूप से कूड़ा फेंकने",
        "graffiti": "दीवारों पर ग्रैफ़िटी",
        "snow_ice": "बर्फ़ और पाले",
        "tree": "पेड़ों",
        "sidewalk": "फुटपाथ",
        "signal_sign": "ट्रैफ़िक सिग्नल या साइनबोर्ड",
        "traffic_safety": "यातायात सुरक्षा",
        "parking": "पार्किंग",
        "street_cleaning": "सड़कों की सफ़ाई",
        "water_sewer": "पानी और सीवर",
        "parks": "पार्क",
        "noise": "शोर",
        "pests": "चूहों और कीटों",
        "encampment": "अस्थायी डेरों",
        "housing": "आवास",
        "other_service": "नगर सेवाओं",
    },
}

PLACEHOLDERS: dict[str, str] = {
    "handle": "the resident, as the platform writes a mention (@name, u/name)",
    "case_number": "the 311 case number, when a case was filed or linked",
    "case_link": "a link to the case (the city's case_link_template); costs more on X",
    "neighborhood": "the neighborhood found in the post",
    "expected_time": "how long a fix usually takes (the city's expected_times)",
    "topic_name": "the topic, in the reply's language",
    "city_name": "the city's name",
}


def topic_name(topic: str | None, language: str) -> str:
    names = TOPIC_NAMES.get(language) or TOPIC_NAMES["en"]
    key = topic or "other_service"
    return names.get(key) or TOPIC_NAMES["en"].get(key) or key.replace("_", " ")
